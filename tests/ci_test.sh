#!/usr/bin/env bash
# `make test`: everything CI checks, in two lanes on the machine's cores.
#
# Lane 1, in the background: the release build of the Lambda zips (`make
# package ARCH=x86_64`, for the artifact check), then the state machine,
# price and CDK checks. The release build is the longest job: it compiles the
# largest SDK crate on one core with one codegen unit, then links each
# function with LTO, so it starts first.
# Lane 2, here: clippy with the Rust tests (one compile: `make lint-unit`) and
# the debug binaries, at a lower CPU priority so that they do not slow the
# release build down, then the end-to-end tests, beside whatever lane 1 still
# runs (the sandbox self-tests hold the sandbox's time where they must see a
# transitional state, so a busy machine cannot make them miss it).
# Then the artifact check on the zips. A failed step in lane 2 stops lane 1;
# lane 1's own failure is reported once lane 2 is done.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE="${MAKE:-make}"
LOG=target/package-x86_64.log
CHECKS_LOG=target/ci-checks.log
mkdir -p target
# Each step's start, in minutes and seconds since `make test` began, and the
# CPU time (user + system) of the finished commands of this lane so far (bash
# `times`: written to a file, as a command substitution would fork and see none).
# Lane 2's figure takes in lane 1's once lane 1 has ended (bash reaps it then).
TIMES_DIR="$(mktemp -d)"
step() {
  local file="$TIMES_DIR/$BASHPID" cpu
  times >"$file"
  cpu="$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); t = u[1] * 60 + u[2] + s[1] * 60 + s[2];
                        printf "%d:%02d", t / 60, t % 60 }' "$file")"
  printf 'test: [%d:%02d, CPU %s] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$cpu" "$*"
}
# A process's descendants (lane 1: cargo-lambda, cargo, rustc, the linker, node, ...).
descendants() { local child; for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done; }

"$MAKE" venv
step "lane 1 in the background: package x86_64 (log: $LOG), then asl-check, prices-check, cdk-test (log: $CHECKS_LOG)"
(
  if ! (ARCH=x86_64 cdk/scripts/package.sh && step "x86_64 package built") >"$LOG" 2>&1; then
    echo "test: make package ARCH=x86_64 failed; the end of $LOG:"
    tail -n 40 "$LOG"
    exit 1
  fi
  for target in asl-check prices-check cdk-test; do
    step "make $target"
    "$MAKE" "$target"
  done
  step "lane 1 done"
) >"$CHECKS_LOG" 2>&1 &
lane1=$!
trap 'kill $(descendants "$lane1") "$lane1" 2>/dev/null || true' EXIT

# The debug binaries of the end-to-end tests come from the same compile as
# clippy and the Rust tests (Makefile, LINTED_BUILD).
export LINTED_BUILD=1
for target in lint-unit build; do
  step "make $target (nice 10)"
  nice -n 10 "$MAKE" "$target"
done
step "make e2e"
"$MAKE" e2e

step "waiting for lane 1"
if wait "$lane1"; then lane1_status=0; else lane1_status=$?; fi
trap - EXIT
cat "$CHECKS_LOG"
if [ "$lane1_status" -ne 0 ]; then
  echo "test: lane 1 failed (exit $lane1_status): above, from $CHECKS_LOG" >&2
  exit 1
fi
tail -n 8 "$LOG"

step "make artifact-check"
"$MAKE" artifact-check PACKAGED=1
step "done"
