#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for tests on a free loopback port; prints `export WARD_TEST_PG_URL=...`.
# Usage: eval "$(scripts/pg-start.sh DIR)"; stop with scripts/pg-stop.sh DIR
set -euo pipefail
dir=${1:?usage: pg-start.sh DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$dir"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
run() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
  run "$bin/initdb" -D "$dir/data" -U ward --auth=trust -E UTF8 >/dev/null
fi
run "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" -w start >/dev/null
run "$bin/createdb" -h 127.0.0.1 -p "$port" -U ward ward_test
echo "export WARD_TEST_PG_URL=postgres://ward@127.0.0.1:$port/ward_test"
