# Commands users and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
CARGO    ?= cargo
# Scenarios run at once: two per core by default, as
# each spends most of its time waiting on the sandbox's timed transitions
# (measured here: 43 scenarios use 0.66 of a core at JOBS=2); override with JOBS=n.
JOBS     ?= $(shell echo $$(( $$(nproc) * 2 )))
# Lambda architecture of `make package` and `make deploy`: arm64 (default) or
# x86_64; `make deploy` needs it equal to the config's lambda.architecture.
ARCH     ?= arm64
# The aws-sdk-ec2 baseline of `make bench` brings aws-lc (a C build) and the
# SDK's default HTTPS client: only `make bench` builds it.
DEBUG_CRATES := --workspace --exclude bench_sdk_ec2

.PHONY: help test lint unit lint-unit build release venv demo sandbox e2e asl-check prices-check prices cdk-test synth package artifact-check bench deploy clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

test: ## Everything CI checks (installs its own tools): lint-unit asl-check prices-check cdk-test e2e artifact-check
	MAKE="$(MAKE)" tests/ci_test.sh

lint: ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(DEBUG_CRATES) --all-targets -- -D warnings

unit: ## Rust unit and handler tests
	$(CARGO) test $(DEBUG_CRATES) --all-targets

# clippy-driver as the compiler of the workspace's own crates, as `cargo clippy`
# runs it (RUSTC_WORKSPACE_WRAPPER, and CLIPPY_ARGS in the form cargo-clippy
# passes `-- -D warnings`), but for a full compile: `make lint-unit` is `make
# lint` and `make unit` with the dependencies compiled once instead of checked,
# then compiled again. LINTED_BUILD=1 (`make test` sets it) has `make build`
# compile the same way, so it reuses that compile.
CLIPPY_COMPILE := RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS='-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__'

lint-unit: ## make lint and make unit with one compile of the dependencies
	$(CARGO) fmt --all -- --check
	$(CLIPPY_COMPILE) $(CARGO) test $(DEBUG_CRATES) --all-targets

build: ## Debug binaries of the six functions (used by the sandbox) and of the makenaide CLI
	$(if $(LINTED_BUILD),$(CLIPPY_COMPILE)) $(CARGO) build $(DEBUG_CRATES) --all-targets

release: ## Release binaries for the host, to measure size
	$(CARGO) build --workspace --release --bins

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed

# checkov and parliament, in a venv of their own (checkov pins a boto3 older
# than the sandbox's moto needs); removed with $(VENV).
SCAN_VENV := $(VENV)/scanners
$(SCAN_VENV)/.installed: cdk/requirements-scan.txt
	python3 -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/pip install --quiet -r cdk/requirements-scan.txt
	touch $@

asl-check: $(VENV)/.installed ## Validate the state machine definition
	@if [ ! -f tests/asl/node_modules/.package-lock.json ] \
	    || [ tests/asl/package-lock.json -nt tests/asl/node_modules/.package-lock.json ]; then \
	  npm ci --prefix tests/asl --no-audit --no-fund; \
	fi
	PYTHONPATH=tests $(PY) -m pytest -q -p no:cacheprovider tests/asl

prices-check: $(VENV)/.installed ## The price table generator on its offer-file fixture, and the table's shape
	$(PY) -m pytest -q -p no:cacheprovider tests/prices

prices: ## Regenerate REGION's EC2/RDS rows of the price table from the AWS offer files (needs network)
	@test -n "$(REGION)" || { echo "usage: make prices REGION=<aws region, e.g. ap-northeast-2>"; exit 2; }
	python3 functions/core/prices/generate.py --region $(REGION)

e2e: $(VENV)/.installed build ## Every end-to-end scenario in the local sandbox
	$(PY) -m pytest -q -p no:cacheprovider tests/sandbox/tests tests/cli
	$(PY) tests/run_suite.py --jobs $(JOBS)

demo: $(VENV)/.installed build ## The whole workflow locally, no AWS account needed
	@$(PY) tests/run_demo.py

# SANDBOX_PORT (default 4566, 0 picks a free port) and SCENARIO (default
# tests/scenarios/happy_path.json) may come from the environment or the command line.
sandbox: $(VENV)/.installed build ## A local AWS endpoint (127.0.0.1:4566) with the workflow deployed, for any AWS client; Ctrl-C stops it
	@$(PY) tests/run_sandbox.py $(if $(SANDBOX_PORT),--port $(SANDBOX_PORT)) $(if $(SCENARIO),--scenario $(SCENARIO))

cdk-test: $(VENV)/.installed $(SCAN_VENV)/.installed ## CDK assertion tests, the IAM grant check, cdk-nag, cfn-lint, checkov and parliament
	cdk/scripts/npm-ci.sh
	cd cdk && rm -rf dist && npx --no-install tsc -p tsconfig.json
	cd cdk && CFN_LINT=$(abspath $(VENV))/bin/cfn-lint SCAN_BIN=$(abspath $(SCAN_VENV))/bin node --test dist/test/*.test.js

synth: ## CloudFormation template into cdk/cdk.out, offline (no Docker, no Rust build)
	cdk/scripts/npm-ci.sh
	env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	  AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
	  cdk/scripts/cdk.sh synth --quiet -c placeholderCode=true $(CDK_ARGS)
	@ls cdk/cdk.out/*.template.json

package: $(VENV)/.installed ## Release zips of the six functions for ARCH (arm64, or x86_64), glibc 2.34, with sizes
	ARCH=$(ARCH) cdk/scripts/package.sh

# The zips as Lambda takes them: x86_64 always (no download), arm64 too when
# its Rust target is installed (run under qemu user-mode emulation).
# PACKAGED=1: the x86_64 zips are already built (make test builds them first).
artifact-check: $(VENV)/.installed ## Package, then check the zips, run happy_path on the unzipped bootstraps, cdk synth with them
	$(PY) -m pytest -q -p no:cacheprovider tests/artifact
	$(if $(PACKAGED),,ARCH=x86_64 cdk/scripts/package.sh)
	$(PY) tests/artifact/check.py x86_64 --synth
	@if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then \
	  set -x; ARCH=arm64 cdk/scripts/package.sh && $(PY) tests/artifact/check.py arm64 --synth; \
	else \
	  echo "artifact-check: arm64 skipped: the Rust target aarch64-unknown-linux-gnu is not installed ('rustup target add aarch64-unknown-linux-gnu' adds it)"; \
	fi

# A benchmark, not a test (never part of `make test`): prints figures, asserts nothing.
bench: $(VENV)/.installed ## Cold start, peak RSS and zip size of the six functions vs two baselines (target/bench/cold-start.md)
	$(VENV)/bin/pip install --quiet -r cdk/requirements-package.txt
	$(PY) tests/bench/run.py --runs 7 --readme

deploy: package ## Deploy the stack to your AWS account (needs credentials): `make package` for ARCH, then cdk deploy
	cdk/scripts/npm-ci.sh
	cdk/scripts/cdk.sh deploy $(CDK_ARGS)

clean: ## Remove build outputs and local tool installs
	rm -rf target $(VENV) cdk/node_modules cdk/cdk.out cdk/dist tests/asl/node_modules
