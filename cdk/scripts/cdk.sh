#!/usr/bin/env bash
# Runs the pinned CDK CLI from cdk/ after compiling the app: no version check,
# no telemetry, no notices, no EC2 instance-metadata probing.
#   scripts/cdk.sh synth -c placeholderCode=true
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist cdk.out
npx --no-install tsc -p tsconfig.json
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true AWS_EC2_METADATA_DISABLED=true
exec npx --no-install cdk "$@" --no-notices
