#!/usr/bin/env bash
# `sudo npm run vm:experiment`: builds (or reuses) the Debian guest image, boots two VMs with
# QEMU on a host-only bridge, runs examples/multihost.yaml across them with Open vSwitch's
# kernel datapath and VXLAN, measures a link impaired with `netlab impair` (netem), and removes everything it made,
# also on failure or Ctrl-C. Prints every command it runs in a guest, what it saw, phase times.
# --skip-if-unavailable: exit 0 with a message where QEMU cannot boot a machine (CI).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$VM_DIR/vms.sh"
source "$VM_DIR/scenario.sh"

[ "$(id -u)" -eq 0 ] || die "run as root: sudo npm run vm:experiment"
for tool in qemu-system-x86_64 qemu-img mmdebstrap mkfs.ext4 ssh nft tcpdump; do
  command -v "$tool" >/dev/null || die "$tool is missing: sudo bash scripts/vm/install-deps.sh"
done
[ -f "$REPO_DIR/dist/cli/main.js" ] && [ -d "$REPO_DIR/node_modules" ] || die "build netlab first: npm ci && npm run build"
blocker=$(boot_blocker)
if [ -n "$blocker" ]; then
  [ "${1:-}" = --skip-if-unavailable ] || die "cannot boot VMs here: $blocker"
  echo "vm: SKIPPED, this host cannot boot VMs: $blocker"; exit 0
fi
! ip link show "$VM_BRIDGE" >/dev/null 2>&1 || die "the bridge $VM_BRIDGE exists: another VM run is going on (or set NETLAB_VM_BRIDGE)"

mkdir -p "$CACHE_ROOT"
RUN_DIR=$(mktemp -d /tmp/netlab-vm.XXXXXX)
trap 'status=$?; trap - EXIT INT TERM; log "stopping the VMs, removing taps, bridge and $RUN_DIR"; vms_cleanup; exit $status' EXIT
trap 'exit 130' INT TERM

phase "guest image"; bash "$VM_DIR/build-image.sh"; phase_end
phase "repository disk"; repo_disk "$RUN_DIR/repo.img"; log "$(du -h --apparent-size "$RUN_DIR/repo.img" | cut -f1) ext4 image of $REPO_DIR"; phase_end

ACCEL=$(detect_accel)
phase "boot $VM_COUNT VMs (accel $ACCEL)"
net_create
for n in $(seq 1 "$VM_COUNT"); do vm_start "$n"; done
for n in $(seq 1 "$VM_COUNT"); do vm_wait "$n" "${NETLAB_VM_BOOT_TIMEOUT:-1200}"; vm_ssh "$n" 'mountpoint -q /netlab || mount /netlab'; log "vm$n answers ssh at $(vm_addr "$n") (underlay $(vm_underlay "$n"))"; done
on 1 "uname -r; node --version; ovs-vsctl --version | head -1; ip -br addr show eth0; ip route"
phase_end

phase "netlab up on each VM"; scenario_prepare; scenario_up; phase_end
phase "experiment"; scenario_ovs; scenario_traffic; phase_end
phase "impair (netem)"; scenario_netem; phase_end
phase "netlab down on each VM"; scenario_down; phase_end

log "all checks passed; phase times: $(IFS=,; echo "${PHASE_TIMES[*]}" | sed 's/,/, /g')"
