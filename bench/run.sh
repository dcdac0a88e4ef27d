#!/bin/sh
# Reproduces bench/results.txt: 10 interleaved rounds (each round runs every
# mode once, so slow phases of the VM hit all modes alike), round-trip
# benchmarks at a fixed 8000 iterations, build benchmarks at 200000.
set -e
cd "$(dirname "$0")/.."
: > bench/results.txt
for i in 1 2 3 4 5 6 7 8 9 10; do
	go test -run '^$' -bench 'BenchmarkPKSelect|BenchmarkInsert' -benchmem -count 1 -benchtime 8000x ./tests/ | tee -a bench/results.txt
	go test -run '^$' -bench 'BenchmarkBuild' -benchmem -count 1 -benchtime 200000x ./tests/ | tee -a bench/results.txt
done
PATH="$PATH:$(go env GOPATH)/bin" benchstat -col /mode bench/results.txt > bench/benchstat.txt
