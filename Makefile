# Common tasks. `make test` is the project's test command (see scripts/test.sh).

GO ?= go

.PHONY: quickstart test bench fmt vet

## quickstart: run the example on embedded SQLite (see examples/quickstart)
quickstart:
	$(GO) run ./examples/quickstart

## test: start/prepare PostgreSQL and MariaDB, then go vet and go test -race
test:
	./scripts/test.sh

## bench: run the benchmarks in tests/
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./tests/

## fmt: gofmt every Go file in place
fmt:
	gofmt -s -w .

## vet: go vet every package
vet:
	$(GO) vet ./...
