#!/bin/sh
# Reproduces bench/provision.txt: provisioning at scale on PostgreSQL and
# MariaDB (start them with scripts/test.sh first).
#   BenchmarkCreate                 Create of a 10-model tenant: replayed DDL,
#                                   Create with AutoMigrate, plain GORM; in an
#                                   empty database and in one holding
#                                   $KIRAYEDAR_BENCH_EXISTING tenants
#   BenchmarkMigrateAllNothingToDo  MigrateAll over $KIRAYEDAR_BENCH_TENANTS
#                                   current tenants
#   BenchmarkMigrateAllAdditive     a new column and index over
#                                   $KIRAYEDAR_BENCH_TENANTS tenants, replayed, by
#                                   concurrency; and with AutoMigrate over
#                                   $KIRAYEDAR_BENCH_AUTOMIGRATE_TENANTS (100)
set -e
cd "$(dirname "$0")/.."
export KIRAYEDAR_BENCH_TENANTS="${KIRAYEDAR_BENCH_TENANTS:-1000}"
export KIRAYEDAR_BENCH_EXISTING="${KIRAYEDAR_BENCH_EXISTING:-1000}"
out=bench/provision.txt
: > $out
go test -run '^$' -bench 'BenchmarkCreate' -benchtime 40x -count 1 -timeout 60m ./tests/ | tee -a $out
go test -run '^$' -bench 'BenchmarkMigrateAllNothingToDo' -benchtime 10x -count 1 -timeout 60m ./tests/ | tee -a $out
go test -run '^$' -bench 'BenchmarkMigrateAllAdditive' -benchtime 1x -count 1 -timeout 120m ./tests/ | tee -a $out
