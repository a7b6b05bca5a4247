#!/usr/bin/env bash
# Install exactly the Debian 12 packages qasm needs, only those missing.
# As root: apt-get update (once, only when something is missing) + install.
# As another user: print the one command to run and fail.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang libclang-rt-14-dev libbpf-dev bpftool linux-libc-dev
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev libgnutls28-dev
  libev-dev libpcap-dev libcmocka-dev
  ngtcp2-client ngtcp2-server
  gnuplot-nox redis-server redis-tools tshark libjansson-dev libhiredis-dev nettle-dev
  iproute2 valgrind procps python3
  nftables conntrack iputils-ping ethtool
  help2man libmicrohttpd-dev curl
  golang-go golang-github-lucas-clemente-quic-go-dev
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "qasm: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "qasm: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, quietly.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
