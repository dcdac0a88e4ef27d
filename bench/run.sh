#!/bin/sh
# Reproduces the benchmark results in bench/:
#   results.txt, benchstat.txt  round trips (PK select, single-row insert) and
#                               DryRun builds, plain GORM against each strategy;
#                               10 interleaved rounds, so slow phases of the
#                               machine hit every mode alike
#   paired.txt                  the plugin's CPU per build, as median paired
#                               ratios (BenchmarkBuildPaired), 3 runs
#   checksent.txt               the send-time check of one statement's SQL
set -e
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
: > bench/results.txt
for i in 1 2 3 4 5 6 7 8 9 10; do
	go test -run '^$' -bench 'BenchmarkPKSelect|BenchmarkInsert' -benchmem -count 1 -benchtime 8000x ./tests/ | tee -a bench/results.txt
	go test -run '^$' -bench '^BenchmarkBuild$' -benchmem -count 1 -benchtime 200000x ./tests/ | tee -a bench/results.txt
done
benchstat -col /mode bench/results.txt > bench/benchstat.txt
go test -run '^$' -bench BenchmarkBuildPaired -benchtime 1x -count 3 ./tests/ | tee bench/paired.txt
go test -run '^$' -bench BenchmarkCheckSent -benchmem -count 5 . | tee bench/checksent.txt
