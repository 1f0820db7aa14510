#!/usr/bin/env bash
# Installs cdk/node_modules exactly as package-lock.json pins it (npm ci), and
# only when the lock file changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.makenaide-lock.sha256
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
