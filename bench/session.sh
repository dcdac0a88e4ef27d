#!/bin/sh
# Reproduces bench/session.txt and bench/session-benchstat.txt: a
# primary-key select under StrategySession (warm connection; round-robin
# over 100 tenants on a pool of 8) against plain GORM, StrategySchema and a
# per-statement transaction with SET LOCAL (set_config(..., true)). Rounds
# are run one at a time, so slow phases of the machine hit every mode alike.
set -e
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
: > bench/session.txt
for i in 1 2 3 4 5 6; do
	go test -run '^$' -bench BenchmarkSessionPKSelect -benchmem -count 1 -benchtime 3000x ./tests/ | tee -a bench/session.txt
done
benchstat -col /mode bench/session.txt > bench/session-benchstat.txt
cat bench/session-benchstat.txt
