#!/usr/bin/env bash
# Installs what scripts/vm/ needs on the host, from Debian/Ubuntu packages. Needs root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "scripts/vm/install-deps.sh: run as root (sudo)" >&2; exit 1; fi
packages=(
  qemu-system-x86   # the VMs (KVM where real, else software emulation)
  qemu-utils        # qemu-img: a copy-on-write overlay per VM
  mmdebstrap        # the Debian guest image, from packages only
  debian-archive-keyring  # verifies the trixie packages
  e2fsprogs         # mkfs.ext4 -d: the root and repository disks from folders
  openssh-client    # runs the experiment's commands in the guests
  nftables          # the host-only bridge forwards nothing out
  tcpdump           # the VNIs on the host bridge
  iproute2          # the bridge and taps
)
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
