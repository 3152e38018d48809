# Sourced by experiment.sh: examples/multihost.yaml across the booted VMs, step by step,
# each command shown as "vmN# command" with its output. A failing check ends the run.
# shellcheck shell=bash

LAB_FILE=/netlab/examples/multihost.yaml

# Runs a command on VM $1 and prints it with its output.
on() { local n=$1; shift; echo "vm$n# $*"; vm_ssh "$n" "$@" 2>&1 | sed 's/^/    /'; return "${PIPESTATUS[0]}"; }
expect() { grep -q -- "$2" <<<"$1" || die "expected \"$2\" in: $1"; echo "    ok: $3"; }

# netlab picks Open vSwitch's kernel datapath when the openvswitch module is loaded.
scenario_prepare() {
  local n
  for n in $(seq 1 "$VM_COUNT"); do on "$n" "modprobe openvswitch && systemctl start openvswitch-switch && lsmod | grep -E '^(openvswitch|vxlan)'"; done
}

scenario_up() {
  local n pids=()
  for n in $(seq 1 "$VM_COUNT"); do
    ( vm_ssh "$n" "netlab up -f $LAB_FILE" > "$RUN_DIR/up$n.log" 2>&1 ) & pids+=($!)
  done
  for n in $(seq 1 "$VM_COUNT"); do
    wait "${pids[$((n - 1))]}" || { cat "$RUN_DIR/up$n.log"; die "vm$n: netlab up failed"; }
    echo "vm$n# netlab up -f $LAB_FILE   (its host found by its underlay address)"; sed 's/^/    /' "$RUN_DIR/up$n.log"
  done
}

scenario_ovs() {
  on 1 ovs-vsctl show
  local dp; dp=$(vm_ssh 1 ovs-dpctl show); echo "vm1# ovs-dpctl show"; sed 's/^/    /' <<<"$dp"
  expect "$dp" "system@ovs-system" "Open vSwitch runs the kernel datapath"
  expect "$dp" "nlov" "netlab's OVS bridge is a port of the kernel datapath"
}

# The tunnel on the host bridge while vm2 talks to vm1: curl over the Linux VXLAN network,
# a DF ping of a full frame over the Open vSwitch one.
scenario_traffic() {
  timeout 120 tcpdump -l -ni "$VM_BRIDGE" -T vxlan -c 200 'udp and (port 4789 or port 4790)' > "$RUN_DIR/tcpdump.txt" 2>/dev/null &
  local dump=$!; sleep 2
  local out; out=$(vm_ssh 2 netlab exec -l multihost b -- curl -s -m 120 http://alpha/whoami)
  echo "vm2# netlab exec -l multihost b -- curl -s http://alpha/whoami"; echo "    $out"
  expect "$out" "10.200.0." "a on vm1 answered b on vm2 by its link alias across VXLAN"
  local ip; ip=$(vm_ssh 1 netlab inspect -l multihost a --json | grep -o '"IPAddress": *"10\.201\.[0-9.]*"' | grep -o '10\.201\.[0-9.]*' | head -1)
  out=$(vm_ssh 2 netlab exec -l multihost b -- ping -c 3 -M do -s 1422 "$ip" 2>&1) || true
  echo "vm2# netlab exec -l multihost b -- ping -c 3 -M do -s 1422 $ip   # 1450-byte packets, DF set, over OVS"; sed 's/^/    /' <<<"$out"
  expect "$out" " 0% packet loss" "full-size DF packets crossed the OVS network"
  sleep 1; kill "$dump" 2>/dev/null || true; wait "$dump" 2>/dev/null || true
  echo "host# tcpdump -ni $VM_BRIDGE -T vxlan 'udp and (port 4789 or port 4790)'"
  sed 's/^/    /' "$RUN_DIR/tcpdump.txt"
  out=$(cat "$RUN_DIR/tcpdump.txt")
  expect "$out" "vni 42" "the Linux VXLAN network's VNI on the wire"
  expect "$out" "vni 43" "the Open vSwitch network's VNI on the wire"
}

# Link impairments with `netlab impair` on b's interface inside vm2 (the guest kernel has netem):
# the RTT and loss ping measures, before and after, printed; `status` agrees; --reset removes it.
# Field 1 of "rtt min/avg/max/mdev = ..." is the minimum (what a delay shifts, whatever the load), 2 the average.
rtt_field() { sed -n 's|^rtt [^=]*= ||p' <<<"$2" | cut -d/ -f"$1"; }
loss_pct() { sed -n 's|.* \([0-9.]*\)% packet loss.*|\1|p' <<<"$1"; }
ping_b() { local out; out=$(vm_ssh 2 netlab exec -l multihost b -- "$1" 2>&1) || true; echo "vm2# netlab exec -l multihost b -- $1" >&2; grep -E 'rtt|loss' <<<"$out" | sed 's/^/    /' >&2; echo "$out"; }
scenario_netem() {
  local a; a=$(vm_ssh 1 netlab inspect -l multihost a --json | grep -o '"IPAddress": *"10\.200\.[0-9.]*"' | grep -o '10\.200\.[0-9.]*' | head -1)
  local base delayed lossy
  base=$(ping_b "ping -q -c 20 -i 0.2 $a")
  on 2 netlab impair -l multihost b --network overlay --delay 20ms || die "netlab impair --delay failed"
  on 2 netlab exec -l multihost b -- tc qdisc show dev eth0
  delayed=$(ping_b "ping -q -c 20 -i 0.2 $a")
  if on 2 netlab status -l multihost; then echo "    ok: status keeps the live impairment as the lab's"; else echo "    note: netlab status exited $? after netlab impair"; fi
  on 2 netlab impair -l multihost b --network overlay --delay 20ms --loss 25% || die "netlab impair --loss failed"
  lossy=$(ping_b "ping -q -c 100 -i 0.1 $a")
  on 2 netlab impair -l multihost b --reset || die "netlab impair --reset failed"
  local b0 b1 lp; b0=$(rtt_field 1 "$base"); b1=$(rtt_field 1 "$delayed"); lp=$(loss_pct "$lossy")
  echo "    measured: RTT min/avg ${b0}/$(rtt_field 2 "$base") ms without impairment, ${b1}/$(rtt_field 2 "$delayed") ms with delay 20ms (min $(awk -v x="$b1" -v y="$b0" 'BEGIN{printf "%+.1f", x-y}') ms); loss ${lp}% of 100 pings with loss 25%"
  awk -v x="$b1" -v y="$b0" 'BEGIN{exit !(x - y >= 15)}' || die "the 20ms delay did not show in the RTT (${b0} -> ${b1} ms)"
  awk -v p="$lp" 'BEGIN{exit !(p >= 10 && p <= 45)}' || die "loss ${lp}% is far from 25%"
  echo "    ok: netlab impair's delay and loss measured by ping"
}

scenario_down() {
  local n left
  for n in $(seq 1 "$VM_COUNT"); do
    on "$n" netlab down -f "$LAB_FILE"
    left=$(vm_ssh "$n" "ip -br link | grep -E '^nl' ; ip netns list | grep netlab ; ovs-vsctl list-br ; iptables-save | grep -i netlab ; ls /run/netlab 2>/dev/null" || true)
    [ -z "$left" ] || die "vm$n: left after down: $left"
    echo "    ok: vm$n has no netlab link, namespace, OVS bridge, rule or run file left"
  done
}
