#!/usr/bin/env bash
# Runs the pinned CDK CLI from cdk/ after compiling the app: no version check,
# no telemetry, no notices, no EC2 instance-metadata probing.
#   scripts/cdk.sh synth -c placeholderCode=true
# A deploy gets `-c deploy=true`: the app then refuses a config that still
# holds the example values of cdk/config.json (EXAMPLE_VALUES, lib/config.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist cdk.out
npx --no-install tsc -p tsconfig.json
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true AWS_EC2_METADATA_DISABLED=true
if [ "${1:-}" = deploy ]; then
  set -- "$@" -c deploy=true
fi
exec npx --no-install cdk "$@" --no-notices
