#!/usr/bin/env bash
# `make test`: everything CI checks. The release build of the Lambda zips
# (`make package ARCH=x86_64`, for the artifact check) is the longest job: it
# compiles the largest SDK crate on one core with one codegen unit, then
# links each function with LTO. So it starts first, in the background, and
# overlaps clippy with the Rust tests (one compile: `make lint-unit`) and
# the state machine, price and CDK checks. The end-to-end tests wait for it:
# they keep sub-second timings and must not share the CPU with a compiler
# (not even one at nice 19: tried, a self-test then missed its 0.6 s window).
# A failed step stops the background build.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE="${MAKE:-make}"
LOG=target/package-x86_64.log
mkdir -p target
# Each step's start, in minutes and seconds since `make test` began.
step() { printf 'test: [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
# A process's descendants (the package build: cargo-lambda, cargo, rustc, the linker).
descendants() { local child; for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done; }

"$MAKE" venv
step "packaging x86_64 in the background (log: $LOG)"
(ARCH=x86_64 cdk/scripts/package.sh && step "x86_64 package built") >"$LOG" 2>&1 &
package_pid=$!
trap 'kill $(descendants "$package_pid") "$package_pid" 2>/dev/null || true' EXIT

# The debug binaries of the end-to-end tests come from the same compile as
# clippy and the Rust tests (Makefile, LINTED_BUILD), built before the wait.
export LINTED_BUILD=1
for target in lint-unit build asl-check prices-check cdk-test; do
  step "make $target"
  "$MAKE" "$target"
done

step "waiting for the x86_64 package"
if ! wait "$package_pid"; then
  echo "test: make package ARCH=x86_64 failed; the end of $LOG:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
fi
trap - EXIT
tail -n 8 "$LOG"

step "make e2e"
"$MAKE" e2e
step "make artifact-check"
"$MAKE" artifact-check PACKAGED=1
step "done"
