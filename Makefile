# airlock — build, test, demo, bench.
# Go 1.27 is fetched by the go command itself (toolchain line in go.mod).
export GOTOOLCHAIN := auto
GO ?= go
BIN := bin/airlock
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test test-short lint demo bench bench-large fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/airlock

## test: vet, then every test with the race detector.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

test-short:
	$(GO) test -short ./...

## lint: gofmt, go vet, staticcheck (installed by .ci/run).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

## demo: the whole mission on the shipped example, in a temp directory.
demo: build
	./scripts/demo.sh $(BIN)

## bench: build, verify and apply next to the standard tools (tar, zstd,
## age, openssl) on a 1 GiB mixed release and 50,000 small files, as ratios
## and peak RSS, in one run; then audit time and memory for 10,000 receipts.
bench: build
	./scripts/bench.sh $(BIN)
	./scripts/bench-audit.sh 10000

## bench-large: the same at 1 and 8 GiB (linearity) and 100,000 small files.
bench-large: build
	BENCH_SIZES="1024 8192" BENCH_FILES=100000 ./scripts/bench.sh $(BIN)

## fuzz: run every fuzz target for FUZZTIME each (default 20s).
FUZZTIME ?= 20s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
