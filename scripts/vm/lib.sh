# Shared by the scripts in scripts/vm/: settings, logging with phase times, ssh into a guest.
# Bash because every step drives a system tool (mmdebstrap, mkfs.ext4, qemu, ip, ssh).
# shellcheck shell=bash

VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$VM_DIR/../.." && pwd)"
CACHE_ROOT="${NETLAB_VM_CACHE:-/var/cache/netlab-vm}"
SUITE=trixie
MIRROR="${NETLAB_VM_MIRROR:-http://deb.debian.org/debian}"
# The host-only network: a bridge with no uplink, no NAT and no default route in the guests.
VM_NET_PREFIX="${NETLAB_VM_NET:-10.248.56}"
VM_BRIDGE="${NETLAB_VM_BRIDGE:-nlvmbr0}"
VM_MEM="${NETLAB_VM_MEM:-1024}"

# Packages of the guest image; the image is cached under a hash of this list and the build script.
GUEST_PACKAGES=(
  systemd-sysv udev kmod dbus linux-image-amd64 initramfs-tools zstd openssh-server
  nodejs iproute2 iptables nftables util-linux procps curl iputils-ping conntrack tcpdump
  openvswitch-switch
)

export VM_T0="${VM_T0:-$(date +%s)}"
PHASE_T0=$VM_T0
log() { printf '[vm %4ds] %s\n' "$(( $(date +%s) - VM_T0 ))" "$*"; }
die() { printf 'vm: %s\n' "$*" >&2; exit 1; }
# Starts a named phase; phase_end prints how long it took.
phase() { PHASE_NAME=$1; PHASE_T0=$(date +%s); log "== $1"; }
phase_end() { local s=$(( $(date +%s) - PHASE_T0 )); log "== $PHASE_NAME: ${s}s"; PHASE_TIMES+=("$PHASE_NAME ${s}s"); }
PHASE_TIMES=()

image_hash() {
  { printf '%s\n' "$SUITE" "${GUEST_PACKAGES[@]}"; cat "$VM_DIR/build-image.sh" "$VM_DIR/guest-setup.sh"; } | sha256sum | cut -c1-16
}
image_dir() { echo "$CACHE_ROOT/$(image_hash)"; }

vm_addr() { echo "$VM_NET_PREFIX.$(( 10 + $1 ))"; }   # vm1 -> .11, vm2 -> .12
# The underlay addresses examples/multihost.yaml names, on the guests' eth0 only (the host has none).
vm_underlay() { echo "192.168.56.$(( 10 + $1 ))"; }
VM_COUNT="${NETLAB_VM_COUNT:-2}"

# Emulated guests on a busy host answer slowly: Open vSwitch's tools get minutes, not seconds.
GUEST_ENV="NETLAB_OVS_TIMEOUT=${NETLAB_VM_OVS_TIMEOUT:-300} NETLAB_HELPER_WAIT_MS=${NETLAB_VM_HELPER_WAIT_MS:-120000}"
# ssh as root into VM number $1; the key is made with the image.
vm_ssh() {
  local n=$1; shift
  ssh -q -i "$(image_dir)/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o ConnectTimeout=30 -o LogLevel=ERROR "root@$(vm_addr "$n")" "export $GUEST_ENV;" "$@"
}
