# Commands users and CI run. `make help` lists them, generated from the
# comments in this file (one place):
#   target: prerequisites ## text      a users' target (listed first)
#   target: prerequisites ### text     a contributors' target
#   ## NAME=VALUE (targets): text      a variable users set (### for contributors')
# Sections and the order within each follow this file. tests/make/test_make_help.py
# checks that every commented target and every variable the Makefile reads is listed,
# within 100 columns.
SHELL := /bin/bash
.DEFAULT_GOAL := help

## SCENARIO=FILE (demo, sandbox): the world the sandbox serves, a file of tests/scenarios/ (default tests/scenarios/happy_path.json)
## SANDBOX_PORT=PORT (sandbox): its port on 127.0.0.1 (default 4566; 0 picks a free one)
## INSTALL_ROOT=DIR (install-cli): the CLI goes to DIR/bin (default $CARGO_INSTALL_ROOT, else $CARGO_HOME, else ~/.cargo)
## CDK_ARGS="ARGS" (synth, deploy): more CDK CLI arguments, e.g. CDK_ARGS="-c config=config.prod.json" (a config file relative to cdk/)
## ARCH=arm64|x86_64 (package, deploy): the Lambda architecture (default arm64); deploy needs it equal to the config's lambda.architecture
## REGION=NAME (prices): the AWS region whose prices to regenerate, e.g. ap-northeast-2
## JOBS=N (test, e2e): scenarios run at once (default two per core)
### CARGO=PATH (test, lint, unit, lint-unit, build, release, install-cli): the cargo to run (default cargo)
### LINTED_BUILD=1 (build): compile with clippy as the compiler, reusing make lint-unit's compile (make test sets it)
### PACKAGED=1 (artifact-check): the x86_64 zips are already built (make test builds them first)

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
# Where `make install-cli` installs: what cargo itself would pick without a
# cargo config `install.root` (given to cargo as --root, so that the recipe knows).
INSTALL_ROOT ?= $(or $(CARGO_INSTALL_ROOT),$(CARGO_HOME),$(HOME)/.cargo)
# The aws-sdk-ec2 baseline of `make bench` brings aws-lc (a C build) and the
# SDK's default HTTPS client: only `make bench` builds it.
DEBUG_CRATES := --workspace --exclude bench_sdk_ec2

.PHONY: help demo sandbox install-cli synth package deploy prices test clean \
	lint unit lint-unit build release venv e2e asl-check prices-check cdk-test artifact-check bench

# ---------------------------------------------------------------- users' targets

# Reads this file's `##`/`###` comments, then prints each section with the
# descriptions in one column, wrapped so that no line passes 100 columns.
help: ## List the targets and the variables they take
	@awk -v width=100 ' \
	  function add(group, kind, name, text) { n[group, kind]++; names[group, kind, n[group, kind]] = name; texts[group, kind, n[group, kind]] = text; \
	    if (length(name) > col) col = length(name) } \
	  function emit(name, text,    w, k, i, line, used, pad) { \
	    k = split(text, w, " "); line = sprintf("  %-" col "s  ", name); pad = sprintf("%" (col + 4) "s", ""); used = 0; \
	    for (i = 1; i <= k; i++) { \
	      if (used && length(line) + 1 + length(w[i]) > width) { print line; line = pad; used = 0 } \
	      line = line (used ? " " : "") w[i]; used = 1 } \
	    print line } \
	  function section(group, kind, title,    i, name, text) { \
	    if (!n[group, kind]) return; print ""; print title; \
	    for (i = 1; i <= n[group, kind]; i++) { name = names[group, kind, i]; text = texts[group, kind, i]; \
	      if (kind == "t" && name in takes) text = text ". Variables: " takes[name]; \
	      emit(name, text) } } \
	  /^[a-z0-9-]+:[^=#]*###? / { \
	    name = substr($$0, 1, index($$0, ":") - 1); rest = substr($$0, index($$0, ":") + 1); rest = substr(rest, index(rest, "#")); \
	    group = (substr(rest, 1, 4) == "### ") ? "c" : "u"; add(group, "t", name, substr(rest, (group == "c") ? 5 : 4)); next } \
	  /^###? [A-Z_]+=/ { \
	    group = (substr($$0, 1, 4) == "### ") ? "c" : "u"; line = substr($$0, (group == "c") ? 5 : 4); \
	    name = substr(line, 1, index(line, " ") - 1); line = substr(line, index(line, " ") + 1); \
	    split(substr(line, 2, index(line, ")") - 2), targets, ", "); var = substr(name, 1, index(name, "=") - 1); \
	    for (t = 1; t in targets; t++) { had = (targets[t] in takes) ? takes[targets[t]] ", " : ""; takes[targets[t]] = had var } \
	    add(group, "v", name, substr(line, index(line, ")") + 3)) } \
	  END { \
	    print "Usage: make TARGET [VARIABLE=value ...]"; \
	    section("u", "t", "Try it, deploy it, run it:"); \
	    section("u", "v", "Their variables (on the command line, or from the environment):"); \
	    section("c", "t", "Working on makenaide-orchestrator (make test runs the checks):"); \
	    section("c", "v", "Their variables:") } \
	' $(firstword $(MAKEFILE_LIST))

demo: $(VENV)/.installed build ## One run of the whole workflow in the local sandbox, followed live with the makenaide CLI; no AWS account needed (a scenario meant to fail exits 0 when it fails as expected)
	@$(PY) tests/run_demo.py $(if $(SCENARIO),--scenario $(SCENARIO))

# SANDBOX_PORT (default 4566, 0 picks a free port) and SCENARIO (default
# tests/scenarios/happy_path.json) may come from the environment or the command line.
sandbox: $(VENV)/.installed build ## A local AWS endpoint (127.0.0.1:4566) with the workflow deployed, for any AWS client and the makenaide CLI; Ctrl-C stops it
	@$(PY) tests/run_sandbox.py $(if $(SANDBOX_PORT),--port $(SANDBOX_PORT)) $(if $(SCENARIO),--scenario $(SCENARIO))

# cargo install builds with the workspace's release profile (LTO, one codegen
# unit: minutes) in target/release, then copies the binary into INSTALL_ROOT/bin.
install-cli: ## Put the makenaide CLI on your PATH: a release build installed into INSTALL_ROOT/bin (~/.cargo/bin); says whether that directory is on your PATH
	$(CARGO) install --locked --path cli --root "$(INSTALL_ROOT)"
	@bin="$(INSTALL_ROOT)/bin"; found="$$(command -v makenaide || true)"; \
	echo "install-cli: installed $$bin/makenaide"; \
	case ":$$PATH:" in \
	  *":$$bin:"*) if [ "$$found" = "$$bin/makenaide" ]; then \
	      echo "install-cli: $$bin is on your PATH: try makenaide --help"; \
	    else \
	      echo "install-cli: $$bin is on your PATH, but another makenaide comes first: $$found"; \
	    fi ;; \
	  *) echo "install-cli: $$bin is NOT on your PATH: add it, e.g. add this line to ~/.bashrc or ~/.profile:"; \
	     echo "  export PATH=\"$$bin:\$$PATH\"" ;; \
	esac

# The CDK CLI without credentials: a synth that reads nothing from AWS.
OFFLINE := env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null

synth: ## CloudFormation template into cdk/cdk.out, offline (no Docker, no Rust build); warns about example config values
	cdk/scripts/npm-ci.sh
	$(OFFLINE) cdk/scripts/cdk.sh synth --quiet -c placeholderCode=true $(CDK_ARGS)
	@ls cdk/cdk.out/*.template.json

package: $(VENV)/.installed ## Release zips of the six functions for ARCH (arm64, or x86_64), glibc 2.34, with sizes
	ARCH=$(ARCH) cdk/scripts/package.sh

# cdk/scripts/cdk.sh passes `-c deploy=true` to a deploy: the app then refuses
# a config that still holds the example values of cdk/config.json. The offline
# synth first says so (or names any other config mistake) in seconds, before
# the release build of `make package`.
deploy: ## Deploy the stack to your AWS account (needs credentials): checks the config (no example values), make package for ARCH, then cdk deploy
	cdk/scripts/npm-ci.sh
	@echo "deploy: checking the config (an offline synth, as for the deploy)"
	@$(OFFLINE) cdk/scripts/cdk.sh synth --quiet -c placeholderCode=true -c deploy=true $(CDK_ARGS)
	$(MAKE) package ARCH=$(ARCH)
	cdk/scripts/cdk.sh deploy $(CDK_ARGS)

prices: ## Regenerate REGION's EC2/RDS rows of the price table from the AWS offer files (needs network)
	@test -n "$(REGION)" || { echo "usage: make prices REGION=<aws region, e.g. ap-northeast-2>"; exit 2; }
	python3 functions/core/prices/generate.py --region $(REGION)

test: ## Everything CI checks, no AWS credentials needed (installs its own tools; 25 to 45 minutes on 2 cores)
	MAKE="$(MAKE)" tests/ci_test.sh

clean: ## Remove build outputs and local tool installs
	rm -rf target $(VENV) cdk/node_modules cdk/cdk.out cdk/dist tests/asl/node_modules

# ---------------------------------------------------------------- contributors' targets

lint: ### cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(DEBUG_CRATES) --all-targets -- -D warnings

unit: ### Rust unit and handler tests
	$(CARGO) test $(DEBUG_CRATES) --all-targets

# clippy-driver as the compiler of the workspace's own crates, as `cargo clippy`
# runs it (RUSTC_WORKSPACE_WRAPPER, and CLIPPY_ARGS in the form cargo-clippy
# passes `-- -D warnings`), but for a full compile: `make lint-unit` is `make
# lint` and `make unit` with the dependencies compiled once instead of checked,
# then compiled again. LINTED_BUILD=1 (`make test` sets it) has `make build`
# compile the same way, so it reuses that compile.
CLIPPY_COMPILE := RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS='-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__'

lint-unit: ### make lint and make unit with one compile of the dependencies
	$(CARGO) fmt --all -- --check
	$(CLIPPY_COMPILE) $(CARGO) test $(DEBUG_CRATES) --all-targets

build: ### Debug binaries of the six functions (used by the sandbox) and of the makenaide CLI
	$(if $(LINTED_BUILD),$(CLIPPY_COMPILE)) $(CARGO) build $(DEBUG_CRATES) --all-targets

release: ### Release binaries for the host, to measure size
	$(CARGO) build --workspace --release --bins

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed ### The Python venv of the sandbox and the checks, .venv (the targets that need it make it)

# checkov and parliament, in a venv of their own (checkov pins a boto3 older
# than the sandbox's moto needs); removed with $(VENV).
SCAN_VENV := $(VENV)/scanners
$(SCAN_VENV)/.installed: cdk/requirements-scan.txt
	python3 -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/pip install --quiet -r cdk/requirements-scan.txt
	touch $@

# tests/make: `make help`, `make install-cli` (with a stand-in cargo) and the demo's verdict.
e2e: $(VENV)/.installed build ### Every end-to-end scenario in the local sandbox, after the sandbox's, the CLI's and the make targets' own tests
	$(PY) -m pytest -q -p no:cacheprovider tests/sandbox/tests tests/cli tests/make
	$(PY) tests/run_suite.py --jobs $(JOBS)

asl-check: $(VENV)/.installed ### Validate the state machine definition
	@if [ ! -f tests/asl/node_modules/.package-lock.json ] \
	    || [ tests/asl/package-lock.json -nt tests/asl/node_modules/.package-lock.json ]; then \
	  npm ci --prefix tests/asl --no-audit --no-fund; \
	fi
	PYTHONPATH=tests $(PY) -m pytest -q -p no:cacheprovider tests/asl

prices-check: $(VENV)/.installed ### The price table generator on its offer-file fixture, and the table's shape
	$(PY) -m pytest -q -p no:cacheprovider tests/prices

cdk-test: $(VENV)/.installed $(SCAN_VENV)/.installed ### CDK assertion tests, the IAM grant check, cdk-nag, cfn-lint, checkov and parliament
	cdk/scripts/npm-ci.sh
	cd cdk && rm -rf dist && npx --no-install tsc -p tsconfig.json
	cd cdk && CFN_LINT=$(abspath $(VENV))/bin/cfn-lint SCAN_BIN=$(abspath $(SCAN_VENV))/bin node --test dist/test/*.test.js

# The zips as Lambda takes them: x86_64 always (no download), arm64 too when
# its Rust target is installed (run under qemu user-mode emulation).
# PACKAGED=1: the x86_64 zips are already built (make test builds them first).
artifact-check: $(VENV)/.installed ### Package, then check the zips, run happy_path on the unzipped bootstraps, cdk synth with them
	$(PY) -m pytest -q -p no:cacheprovider tests/artifact
	$(if $(PACKAGED),,ARCH=x86_64 cdk/scripts/package.sh)
	$(PY) tests/artifact/check.py x86_64 --synth
	@if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then \
	  set -x; ARCH=arm64 cdk/scripts/package.sh && $(PY) tests/artifact/check.py arm64 --synth; \
	else \
	  echo "artifact-check: arm64 skipped: the Rust target aarch64-unknown-linux-gnu is not installed ('rustup target add aarch64-unknown-linux-gnu' adds it)"; \
	fi

# A benchmark, not a test (never part of `make test`): prints figures, asserts nothing.
bench: $(VENV)/.installed ### Cold start, peak RSS and zip size of the six functions vs two baselines (target/bench/cold-start.md)
	$(VENV)/bin/pip install --quiet -r cdk/requirements-package.txt
	$(PY) tests/bench/run.py --runs 7 --readme
