#!/usr/bin/env bash
# The whole test suite: installs the Debian peers when missing, installs npm packages from the
# lockfile, builds, starts a throwaway PostgreSQL, and runs every test (unit, vectors, property,
# interop with swtpm / PyKMIP / cryptsetup / python3-cryptography, e2e), on Node.js 24 (scripts/runtime.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
source scripts/runtime.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  ward_runtime_before_install
  npm ci --no-audit --no-fund
fi
ward_runtime
npm run build
pgdir=$(mktemp -d /tmp/ward-pg.XXXXXX)
trap 'bash scripts/pg-stop.sh "$pgdir"' EXIT
eval "$(bash scripts/pg-start.sh "$pgdir")"
export WARD_TEST_PG_URL
npm run --silent lint:all
node scripts/run-tests.mjs "$@"
