# Sourced by experiment.sh: the host-only bridge, the repository disk, booting and stopping VMs.
# shellcheck shell=bash

# KVM only where it is backed by hardware virtualisation (kvm_intel/kvm_amd); a PVM-backed
# /dev/kvm cannot run Debian's kernels, so that and everything else gets software emulation.
detect_accel() {
  case "${NETLAB_VM_ACCEL:-auto}" in
    kvm) echo kvm; return ;; tcg) echo tcg; return ;;
  esac
  if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then echo kvm; else echo tcg; fi
}
accel_args() {
  if [ "$1" = kvm ]; then echo "-accel kvm -cpu host"; else echo "-accel tcg,thread=multi -cpu max"; fi
}

# Why this host cannot boot the VMs (empty when it can): QEMU starts an empty machine, the
# kernel gives taps and bridges.
boot_blocker() {
  [ -c /dev/net/tun ] || { echo "no /dev/net/tun for the VMs' taps"; return; }
  command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is not installed"; return; }
  # shellcheck disable=SC2046
  local out; out=$(timeout 3 qemu-system-x86_64 $(accel_args "$(detect_accel)") -m 64 -nodefaults \
    -display none -monitor none -serial none -S 2>&1); local rc=$?
  [ "$rc" -eq 124 ] || { echo "QEMU cannot start a machine here: ${out:-exit $rc}"; return; }
  ip link add nlvmprobe0 type bridge 2>/dev/null || { echo "cannot create a bridge (not root, or no CAP_NET_ADMIN)"; return; }
  ip link del nlvmprobe0
}

# The bridge the VMs' taps hang on: the host has an address on it (for ssh) and forwards
# nothing that arrives on it elsewhere (its own nftables table, removed with the bridge).
net_create() {
  ip link add "$VM_BRIDGE" type bridge
  ip addr add "$VM_NET_PREFIX.1/24" dev "$VM_BRIDGE"
  ip link set "$VM_BRIDGE" up
  nft -f - <<NFT
table inet netlab-vm {
  chain forward { type filter hook forward priority filter; iifname "$VM_BRIDGE" oifname != "$VM_BRIDGE" drop; oifname "$VM_BRIDGE" iifname != "$VM_BRIDGE" drop; }
}
NFT
}
net_remove() {
  nft delete table inet netlab-vm 2>/dev/null || true
  ip link del "$VM_BRIDGE" 2>/dev/null || true
}

# An ext4 image of the repository as it is here (sources, dist, node_modules; not .git), so
# the guests run the host's build without a registry.
repo_disk() {
  local out=$1 stage
  stage=$(mktemp -d "$RUN_DIR/repo.XXXXXX")
  tar -C "$REPO_DIR" --exclude=./.git --exclude=./.vagrant --exclude=./coverage -cf - . | tar -C "$stage" -xf -
  local mb=$(( $(du -sm "$stage" | cut -f1) * 3 / 2 + 64 ))
  truncate -s "${mb}M" "$out"
  mkfs.ext4 -q -L netlab-repo -d "$stage" "$out"
  rm -rf "$stage"
}

# Boots VM number $1 in the background: a qcow2 overlay per disk, a tap on the bridge,
# direct kernel boot, the serial console to $RUN_DIR/vmN.console.
vm_start() {
  local n=$1 img; img=$(image_dir)
  local tap="nlvmtap$n"
  qemu-img create -q -f qcow2 -F raw -b "$img/rootfs.img" "$RUN_DIR/vm$n.qcow2"
  qemu-img create -q -f qcow2 -F raw -b "$RUN_DIR/repo.img" "$RUN_DIR/repo$n.qcow2"
  ip tuntap add "$tap" mode tap
  ip link set "$tap" master "$VM_BRIDGE" up
  local addrs="$(vm_addr "$n")/24,$(vm_underlay "$n")/24"
  # shellcheck disable=SC2046
  nice -n "${NETLAB_VM_NICE:-19}" qemu-system-x86_64 -name "netlab-vm$n" $(accel_args "$ACCEL") \
    -smp "${NETLAB_VM_CPUS:-1}" -m "$VM_MEM" -nodefaults -display none -no-reboot \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet mitigations=off net.ifnames=0 panic=-1 systemd.hostname=vm$n netlab.addr=$addrs" \
    -drive "file=$RUN_DIR/vm$n.qcow2,if=virtio,format=qcow2" \
    -drive "file=$RUN_DIR/repo$n.qcow2,if=virtio,format=qcow2" \
    -netdev "tap,id=net0,ifname=$tap,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=net0,mac=52:54:00:f8:38:$(printf %02x "$n")" \
    -serial "file:$RUN_DIR/vm$n.console" -monitor none \
    -pidfile "$RUN_DIR/vm$n.pid" -daemonize
}

# Waits until VM $1 answers ssh (or its console shows it died, or $2 seconds pass).
vm_wait() {
  local n=$1 limit=$2 t0; t0=$(date +%s)
  until vm_ssh "$n" true 2>/dev/null; do
    [ -f "$RUN_DIR/vm$n.pid" ] && kill -0 "$(cat "$RUN_DIR/vm$n.pid")" 2>/dev/null || { tail -20 "$RUN_DIR/vm$n.console" >&2; die "vm$n: QEMU exited"; }
    [ $(( $(date +%s) - t0 )) -lt "$limit" ] || { tail -20 "$RUN_DIR/vm$n.console" >&2; die "vm$n: no ssh after ${limit}s"; }
    sleep 3
  done
}

# Stops every VM of this run (by its pid file) and removes taps, bridge and run folder.
vms_cleanup() {
  local f pid
  for f in "$RUN_DIR"/vm*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for n in $(seq 1 "$VM_COUNT"); do ip link del "nlvmtap$n" 2>/dev/null || true; done
  net_remove
  rm -rf "$RUN_DIR"
}
