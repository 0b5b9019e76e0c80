# opa-sts build and test entry points. `make run` starts opa-sts with the
# embedded default; `make test` runs every check and test CI runs.

SHELL      := /bin/bash
GO         ?= go
BIN        := bin/opa-sts
VERSION    := $(shell cat VERSION)
VCS        := $(shell git rev-parse --short HEAD 2>/dev/null)
OPA_VER    := github.com/open-policy-agent/opa/v1/version
LDFLAGS    := -X main.stsVersion=$(VERSION) -X $(OPA_VER).Vcs=$(VCS) -X $(OPA_VER).Timestamp=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
CAPS       := build/capabilities.json
ADDR       ?= 127.0.0.1:8181
export OPA_STS_BIN := $(abspath $(BIN))

.PHONY: all build run deps tools lint capabilities check-capabilities test test-go test-race test-rego test-bench test-fuzz fuzz-long diff-minio soak bench loadtest clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/opa-sts

## run: start a local development STS and S3 endpoint with the embedded
## default (see README). versitygw, the S3 gateway, is built once and cached.
run: build
	@bash scripts/build-tools.sh versitygw
	$(BIN) dev --addr $(ADDR) $(DEV_ARGS)

## deps: the Debian packages the tests use (AWS CLI, nginx, etcd, node...).
deps:
	bash scripts/install-deps.sh

## tools: build or install the real components the tests start (cached).
tools: deps
	go mod download
	bash scripts/build-tools.sh

## capabilities: regenerate the committed capabilities file (Regal, editors).
capabilities: build
	$(BIN) capabilities --current > $(CAPS)

check-capabilities: build
	@$(BIN) capabilities --current | diff -u $(CAPS) - \
		|| { echo "$(CAPS) is out of date: run 'make capabilities' and commit it"; exit 1; }

lint: build check-capabilities
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(BIN) fmt --fail --list policies/ bundles/ test/bench/
	$(BIN) check --strict policies/ bundles/example/
	$(BIN) check test/bench/minio-stock/

test-rego: build
	$(BIN) test --coverage --threshold 90 --format json policies/ bundles/example/ > /dev/null
	$(BIN) test -v policies/ bundles/example/ | tail -n 3

test-race:
	$(GO) test -race -count=1 ./internal/...

test-go: build
	$(GO) test -count=1 -timeout 25m ./...

## test-bench: run every benchmark once, so none rots (no timing is asserted).
test-bench: build
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x $$(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -n1 dirname | sort -u)

## test: everything CI runs.
test: tools lint test-rego test-race test-go test-bench test-fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./builtins/ ./plugin/sts/ ./plugin/s3iam/ ./policies/ | tee build/bench.txt

loadtest: build
	bash scripts/loadtest.sh

clean:
	rm -rf bin

## test-fuzz: every fuzz target for FUZZTIME (CI: 15s each; `make fuzz-long` runs 10m each).
FUZZTIME ?= 15s
FUZZ_TARGETS := \
	./internal/stswire:FuzzParseRequest \
	./internal/jwtverify:FuzzVerifyTamperedToken \
	./internal/credentials:FuzzVerifySessionToken \
	./plugin/sts:FuzzSessionPolicy \
	./internal/iam:FuzzSessionPolicyNeverWidens \
	./internal/iam:FuzzPatternMatch \
	./internal/iam:FuzzMultiValuedVariable \
	./internal/miniomigrate:FuzzTranslatePolicy \
	./plugin/s3iam:FuzzGatewaySigV4 \
	./policies:FuzzMinIOContractInput \
	./internal/jsonast:FuzzDecode \
	./internal/sessionstore:FuzzDecodeSession \
	./plugin/minioidentity:FuzzIdentityRequest \
	./internal/sigv4:FuzzVerifySTSRequest
# A run that ends in Go's "context deadline exceeded" with no failing
# input (a race in the fuzzing coordinator at the -fuzztime deadline,
# go.dev/issue/75804, fixed in Go 1.27) is run again, up to twice more; a
# real failure writes its input under testdata and fails.
test-fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		for attempt in 1 2 3; do \
			echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) && { echo "$$out" | grep -vE '^fuzz: elapsed'; break; }; \
			echo "$$out" | grep -vE '^fuzz: elapsed'; \
			if [ $$attempt != 3 ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
				echo "fuzz $$fn: the engine's deadline, no failing input: again"; continue; fi; \
			exit 1; \
		done; done

fuzz-long:
	$(MAKE) test-fuzz FUZZTIME=10m

## diff-minio: the full differential matrix against MinIO's own IAM (CI's
## test-go runs its fixed-seed subset); the figures go to build/diff-minio.json.
diff-minio: build tools
	set -o pipefail; OPA_STS_DIFF_FULL=1 OPA_STS_DIFF_REPORT=$(abspath build/diff-minio.json) $(GO) test -count=1 -v -timeout 30m -run . ./test/e2e/miniodiff/ | grep -vE '^=== (RUN|PAUSE|CONT)'

## soak: 10 minutes of mixed issuance and enforcement at 16 clients (CI runs 60 s in test-go).
soak: build tools
	set -o pipefail; SOAK_SECONDS=600 $(GO) test -count=1 -v -timeout 20m -run TestSoak ./test/soak | grep -E 'soak_test|^(ok|FAIL|PASS)'
