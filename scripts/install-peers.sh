#!/usr/bin/env bash
# Installs the Debian packages Ward's tests and benchmarks use as real peers, when missing.
# Idempotent; needs root (or sudo) and Debian's package index.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in swtpm swtpm-tools tpm2-tools python3-pykmip python3-cryptography cryptsetup-bin qemu-utils \
  libnbd-bin python3-libnbd qemu-system-x86 ovmf linux-image-cloud-amd64 busybox-static xz-utils \
  postgresql openssl xxd build-essential; do
  have "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
