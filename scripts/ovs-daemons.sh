#!/usr/bin/env bash
# Starts or stops a private Open vSwitch (ovsdb-server + ovs-vswitchd) whose files all live in
# RUNDIR, in the network namespace this script runs in. `netlab up --simulate` runs one per
# simulated host (through nsenter), because ovs-vswitchd reads its namespace's routes and makes
# its taps there. On a real VM, the distribution's openvswitch-switch service plays this part.
#   ovs-daemons.sh start RUNDIR     (idempotent)
#   ovs-daemons.sh stop RUNDIR
set -euo pipefail
# The daemons' output goes to start.err, not to this script's: a daemon that kept the caller's pipe
# open would keep netlab waiting for it to close. Every client call has a timeout for the same reason.
action=${1:?start or stop}
D=${2:?RUNDIR}
export OVS_RUNDIR=$D OVS_DBDIR=$D OVS_LOGDIR=$D   # without OVS_RUNDIR, vswitchd writes <bridge>.mgmt into /var/run/openvswitch

alive() { # a pid file naming a process that is running (not a zombie)
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status"
}

wait_gone() {
  for _ in $(seq 1 100); do alive "$1" || return 0; sleep 0.05; done
  kill -9 "$(cat "$1")" 2>/dev/null || true
}

case $action in
start)
  mkdir -p "$D" && chmod 0755 "$D"
  if ! alive "$D/ovsdb-server.pid"; then
    [ -f "$D/conf.db" ] || ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
      --pidfile="$D/ovsdb-server.pid" --unixctl="$D/ovsdb-server.ctl" --log-file="$D/ovsdb-server.log" \
      -vconsole:off --detach --no-chdir >>"$D/start.err" 2>&1
    # --no-wait: ovs-vswitchd is not there yet to confirm.
    ovs-vsctl --db="unix:$D/db.sock" --timeout=10 --no-wait init
  fi
  if ! alive "$D/ovs-vswitchd.pid"; then
    ovs-vswitchd "unix:$D/db.sock" --pidfile="$D/ovs-vswitchd.pid" --unixctl="$D/ovs-vswitchd.ctl" \
      --log-file="$D/ovs-vswitchd.log" -vconsole:off --detach --no-chdir >>"$D/start.err" 2>&1
  fi
  ;;
stop)
  # --cleanup removes the taps of its bridges; the daemons must be gone before their namespace is deleted.
  if alive "$D/ovs-vswitchd.pid"; then
    ovs-appctl --timeout=10 -t "$D/ovs-vswitchd.ctl" exit --cleanup 2>/dev/null || kill "$(cat "$D/ovs-vswitchd.pid")" 2>/dev/null || true
    wait_gone "$D/ovs-vswitchd.pid"
  fi
  if alive "$D/ovsdb-server.pid"; then
    ovs-appctl --timeout=10 -t "$D/ovsdb-server.ctl" exit 2>/dev/null || kill "$(cat "$D/ovsdb-server.pid")" 2>/dev/null || true
    wait_gone "$D/ovsdb-server.pid"
  fi
  rm -rf "$D"
  ;;
*) echo "usage: $0 start|stop RUNDIR" >&2; exit 2 ;;
esac
