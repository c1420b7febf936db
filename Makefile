# airlock — build, test, demo, bench.
# Go 1.27 is fetched by the go command itself (toolchain line in go.mod).
export GOTOOLCHAIN := auto
GO ?= go
BIN := bin/airlock
# The version and commit come from the build information the go command
# records (-buildvcs); VERSION=… overrides the version only.
VERSION ?=
LDFLAGS := -s -w $(if $(VERSION),-X main.version=$(VERSION))

.PHONY: all build demoservice dist man test test-short lint demo images-demo fleet-demo delta-demo bench bench-large bench-delta fuzz torture clean

all: build

build:
	$(GO) build -trimpath -buildvcs=auto -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/airlock

## demoservice: bin/demoservice, the stand-in for the payments API that the
## README's Quickstart starts (its health check polls it).
demoservice:
	$(GO) build -o bin/demoservice ./scripts/demoservice

## dist: reproducible release binaries for every platform (and a PKCS#11
## build for linux/amd64), CycloneDX SBOMs, .deb and .rpm packages,
## SHA256SUMS, and when DIST_KEY names a signing key SHA256SUMS.sig,
## SHA256SUMS.sigstore.json and the SLSA provenance (provenance.intoto.jsonl).
dist:
	VERSION='$(VERSION)' ./scripts/dist.sh

## man: a man page per command in MANDIR (default man/), made by cobra's
## generator from the command tree airlock runs (cmd/airlock built with
## -tags manpages: the generator is not in the airlock binary).
MANDIR ?= man
man:
	$(GO) run -tags manpages ./cmd/airlock -dir $(MANDIR)

## test: vet, then every test with the race detector (the release tests
## of scripts/disttest build whole releases: more than go test's default
## 10 minutes on a small machine). (A race-built
## program sleeps a second as it exits, to let reports print; the scripts
## run airlock hundreds of times, so that sleep is turned off.)
test:
	$(GO) vet ./...
	GORACE=atexit_sleep_ms=0 $(GO) test -race -count=1 -timeout 30m ./...

test-short:
	$(GO) test -short ./...

## lint: gofmt, go vet, staticcheck (installed by .ci/run).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags manpages ./cmd/airlock
	GOOS=windows $(GO) vet ./...
	staticcheck ./...

## demo: the whole mission on the shipped example, in a temp directory.
demo: build
	./scripts/demo.sh $(BIN)

## images-demo: two images sharing a base layer and a Helm-chart-like OCI
## artifact, from an "upstream" registry on this machine, across the gap,
## into the zone's own registry (Debian's docker-registry; skopeo reads
## them back).
images-demo: build
	./scripts/images-demo.sh $(BIN)

## fleet-demo: a zone of four hosts on this machine, each behind an sshd
## of its own (Debian's openssh-server), rolled out to with Ansible over
## SSH (ansible-playbook: Debian's ansible): shop 1.0, then 1.1 whose
## health check fails on one host; every receipt into one media folder,
## and the audit with the zone register (see examples/fleet/README.md).
fleet-demo: build
	./scripts/fleet-demo.sh $(BIN)

## delta-demo: delta bundles on the example: release 2.4.1 applied in full,
## its receipt carried back, 2.4.2 built --since it (one page and one class
## of a generated 16 MiB library changed) and applied; prints both sizes.
delta-demo: build
	./scripts/delta-demo.sh $(BIN)

## bench: build, verify and apply next to the standard tools (tar, zstd,
## age, openssl, skopeo) on a 1 GiB mixed release, 50,000 small files and
## 1 GiB of ten container images sharing base layers, as ratios
## and peak RSS, in one run; then audit time and memory for 10,000 receipts.
bench: build
	./scripts/bench.sh $(BIN)
	./scripts/bench-audit.sh 10000 100000

## bench-delta: a full bundle against a delta built --since the receipts,
## on a realistic upgrade of a release of BENCH_DELTA_MIB MiB (default
## 1024): bundle size, build and apply time as ratios, peak RSS, and an
## unchanged re-release's delta beyond its manifest, in one run.
bench-delta: build
	./scripts/bench-delta.sh $(BIN)

## bench-large: the same at 1 and 8 GiB (linearity) and 100,000 small files.
bench-large: build
	BENCH_SIZES="1024 8192" BENCH_FILES=100000 ./scripts/bench.sh $(BIN)

## fuzz: run every fuzz target for FUZZTIME each (default 20s).
FUZZTIME ?= 20s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

## torture: kill apply, resume, build and sign at TRIALS random moments
## (default 100, a few minutes), then full and read-only file systems;
## check after each kill (Linux; see README, "Faults").
TRIALS ?= 100
torture: build
	$(GO) run ./scripts/torture -bin $(BIN) -trials $(TRIALS)

clean:
	rm -rf bin dist man
