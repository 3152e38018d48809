#!/bin/sh
# netlab's container monitor, one per container (podman's conmon is the model). It runs the
# container's command, holds its log (the command inherits this shell's stdout and stderr),
# records its state in DIR/state as docker inspect's State, and applies the restart policy.
# A shell, not node: it starts in a millisecond, a lab of a thousand commands has a thousand.
#   monitor.sh DIR POLICY MAX-RETRIES NETNS-FILE COMMAND...
# DIR/stopped (written by `netlab stop`) means: no restart, whatever the policy.
dir=$1 policy=$2 max=$3 netns=$4
shift 4
restarts=0 code=0 delay=1 # delay in tenths of a second: Docker's 100 ms, doubled each time, at most a minute
finished=0001-01-01T00:00:00Z
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
record() { # status pid
  printf '{"Status":"%s","Pid":%s,"ExitCode":%s,"StartedAt":"%s","FinishedAt":"%s","RestartCount":%s}\n' \
    "$1" "$2" "$code" "$started" "$finished" "$restarts" >"$dir/state.tmp" && mv -f "$dir/state.tmp" "$dir/state"
}
while :; do
  started=$(now)
  t0=$(date +%s)
  "$@" &
  pid=$!
  record running $pid
  wait $pid
  code=$?
  finished=$(now)
  record exited 0
  [ -e "$dir/stopped" ] && exit 0
  case $policy in
  always | unless-stopped) ;;
  on-failure) [ "$code" -ne 0 ] && { [ "$max" -eq 0 ] || [ "$restarts" -lt "$max" ]; } || exit 0 ;;
  *) exit 0 ;;
  esac
  [ -e "$netns" ] || exit 0 # the lab is going down
  # Docker resets the delay once a command has run 10 s.
  [ $(($(date +%s) - t0)) -ge 10 ] && delay=1
  record restarting 0
  sleep $((delay / 10)).$((delay % 10))
  delay=$((delay * 2))
  [ $delay -gt 600 ] && delay=600
  [ -e "$dir/stopped" ] && { record exited 0; exit 0; }
  restarts=$((restarts + 1))
done
