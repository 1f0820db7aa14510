#!/usr/bin/env bash
# Builds the six functions as arm64 (Graviton) release zips with cargo-lambda,
# which uses zig as the cross linker (both from PyPI, pinned in
# requirements-package.txt, installed into the repository's .venv), and prints
# each zip's size. Output: target/lambda/<binary>/bootstrap.zip
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${VENV:-.venv}"
TARGET=aarch64-unknown-linux-gnu
BINARIES="rds_check ec2_start ssm_launch poll_ec2_state rds_stop emit_metrics"

"$VENV/bin/pip" install --quiet -r cdk/requirements-package.txt
export PATH="$PWD/$VENV/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "package: installing the Rust standard library for $TARGET (rustup target add)" >&2
  if ! rustup target add "$TARGET"; then
    echo "package: cannot install the $TARGET target; run 'rustup target add $TARGET' where the Rust distribution server is reachable" >&2
    exit 1
  fi
fi

cargo lambda build --release --arm64 --output-format zip --workspace

printf '%-16s %10s  %s\n' binary bytes zip
for b in $BINARIES; do
  zip="target/lambda/$b/bootstrap.zip"
  [ -f "$zip" ] || { echo "package: $zip was not built" >&2; exit 1; }
  printf '%-16s %10d  %s\n' "$b" "$(stat -c %s "$zip")" "$zip"
done
