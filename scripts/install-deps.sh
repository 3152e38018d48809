#!/usr/bin/env bash
# Installs the system programs netlab drives, from Debian/Ubuntu packages. Needs root.
# Node.js >= 20 is expected to be there already (https://nodejs.org or your distribution).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "install-deps.sh: run as root (sudo)" >&2; exit 1; fi
packages=(
  iproute2        # ip: namespaces, veth, bridges, addresses, routes
  iptables        # iptables-save / iptables-restore (nf_tables backend)
  nftables        # nft, for firewall: nftables, and nft monitor trace for netlab trace (both backends)
  coreutils       # stdbuf: netlab trace reads nft monitor's lines as they come
  util-linux      # nsenter, unshare: UTS namespaces and exec
  perl            # assets/stamp.pl, each container log's stamper (Time::HiRes: times to the microsecond; perl-base alone stamps whole seconds)
  procps          # sysctl
  curl            # the demo's client, and the tests
  iputils-ping    # ping inside containers
  conntrack       # flushing stale UDP flows, and inspecting NAT
  kmod            # modprobe br_netfilter where the module is not loaded
  tcpdump         # netlab capture; the tests prove that overlay traffic crosses the underlay
  openvswitch-switch  # driver: ovs (netlab starts its own daemons where the service is not running)
  apache2         # the Apache lesson (examples/apache.yaml): run inside containers, never as the host's service
  nginx           # the nginx lesson (examples/nginx.yaml), likewise
  bind9-dnsutils  # dig: the tests ask the embedded DNS at 127.0.0.11 as a user would
  iperf3          # npm run bench: the data-plane rows (BENCH_DATAPLANE=1) and the tiny server of the command rows
)
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  # The web servers are for containers: their packages must not start them on the host (port 80
  # taken, a service left running). policy-rc.d refuses every start during this install only.
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" || { [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  # Where systemd runs, the services stay off at boot too.
  if [ -d /run/systemd/system ]; then systemctl disable --now apache2 nginx >/dev/null 2>&1 || true; fi
fi
# netlab ui's browser tests drive a headless Chromium (Debian: chromium; Ubuntu: chromium-browser).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium 2>/dev/null || apt-get install -y -qq --no-install-recommends chromium-browser || echo "install-deps.sh: no Chromium package here: netlab ui works, its browser tests need one (set CHROMIUM=/path)" >&2
fi
node -e 'const [maj] = process.versions.node.split("."); if (+maj < 20) { console.error(`netlab needs Node.js >= 20, this is ${process.version}`); process.exit(1); }'
