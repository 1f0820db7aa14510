#!/usr/bin/env bash
# Builds the six functions as release zips for one Lambda architecture with
# cargo-lambda, which links with zig against glibc 2.34, the C library of the
# Lambda OS (provided.al2023); both tools come from PyPI, pinned in
# requirements-package.txt and installed into the repository's .venv.
#   ARCH=arm64 (default, Graviton) | x86_64
# Output: target/lambda/<arch>/<binary>/bootstrap.zip, and each zip's size.
# Only the six functions: other workspace crates never go into a Lambda zip.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${VENV:-.venv}"
ARCH="${ARCH:-arm64}"
GLIBC=2.34
BINARIES="rds_check ec2_start ssm_launch poll_ec2_state rds_stop emit_metrics"

case "$ARCH" in
  arm64) TARGET=aarch64-unknown-linux-gnu ;;
  x86_64) TARGET=x86_64-unknown-linux-gnu ;;
  *) echo "package: ARCH must be arm64 or x86_64, got '$ARCH'" >&2; exit 2 ;;
esac

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  if ! out="$(rustup target add "$TARGET" 2>&1)"; then
    reason="$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)"
    echo "package: the Rust target $TARGET is not installed and 'rustup target add $TARGET' failed (${reason:-no output}); build for x86_64 instead with 'make package ARCH=x86_64' and set lambda.architecture to x86_64" >&2
    exit 1
  fi
  echo "package: installed the Rust standard library for $TARGET (rustup target add $TARGET)" >&2
fi

"$VENV/bin/pip" install --quiet -r cdk/requirements-package.txt
export PATH="$PWD/$VENV/bin:$PATH"

packages=()
# --bin too: cargo-lambda zips every workspace binary it finds in the target
# directory, other crates' left over from earlier builds included, unless told which.
for b in $BINARIES; do packages+=(-p "$b" --bin "$b"); done
rm -rf "target/lambda/$ARCH"  # no zip of an earlier build stays beside the six
# The ".2.34" suffix is cargo-zigbuild's: zig links against that glibc version.
cargo lambda build --release --target "$TARGET.$GLIBC" --output-format zip \
  --lambda-dir "target/lambda/$ARCH" "${packages[@]}"

printf '%-16s %10s  %s\n' binary bytes zip
for b in $BINARIES; do
  zip="target/lambda/$ARCH/$b/bootstrap.zip"
  [ -f "$zip" ] || { echo "package: $zip was not built" >&2; exit 1; }
  printf '%-16s %10d  %s\n' "$b" "$(stat -c %s "$zip")" "$zip"
done
