#!/bin/sh
# netlab's container monitor, one per container (podman's conmon is the model). It runs the
# container's command, holds its log (stdout, opened by netlab; the command's output comes there
# through assets/stamp.pl, which writes each chunk's time to the times file on fd 3),
# records its state in DIR/state as docker inspect's State, applies the restart policy, and runs
# the healthcheck, recording it in DIR/health. A shell, not node: it starts in a millisecond.
#   monitor.sh DIR POLICY MAX-RETRIES NETNS-FILE CHECK INTERVAL:TIMEOUT:RETRIES:START COMMAND...
# COMMAND is `nsenter --net --uts --mount --wdns -- ...`; the check runs under its first five
# words. CHECK is empty without a healthcheck; the times are in seconds.
# DIR/stopped (written by `netlab stop`) means: no restart, whatever the policy.
dir=$1 policy=$2 max=$3 netns=$4 check=$5 times=$6
shift 6
restarts=0 code=0 delay=1 # delay in tenths of a second: Docker's 100 ms, doubled each time, at most a minute
finished=0001-01-01T00:00:00Z
stamp() { # this shell's output, and so the command's, through the stamper; without perl or fd 3 (a monitor started by hand), straight to the log
  [ -p "$dir/out" ] || { { [ ! -e "$dir/out" ] || rm -f "$dir/out"; } && mkfifo -m 600 "$dir/out"; } || return 0
  perl "${0%/*}/stamp.pl" "$dir/out" <"$dir/out" &
  exec >"$dir/out" 2>&1
}
[ -e /proc/self/fd/3 ] && command -v perl >/dev/null && stamp
exec 3>&-
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
# The first start's time as netlab took it ("ISO-TIME EPOCH-SECONDS"): two processes fewer per container.
first=${NETLAB_MONITOR_STARTED-}
unset NETLAB_MONITOR_STARTED
record() { # status pid; replaces a state by rename (a reader sees the old or the new), writes the first in place (a process fewer)
  f=$dir/state
  [ -e "$f" ] && f=$dir/state.tmp
  printf '{"Status":"%s","Pid":%s,"ExitCode":%s,"StartedAt":"%s","FinishedAt":"%s","RestartCount":%s}\n' \
    "$1" "$2" "$code" "$started" "$finished" "$restarts" >"$f" && { [ "$f" = "$dir/state" ] || mv -f "$f" "$dir/state"; }
}
health() { # Docker's: failures in the start period do not count; RETRIES failures in a row make it unhealthy
  IFS=: read -r interval timeout retries start <<TIMES
$times
TIMES
  status=starting streak=0 t0=$(date +%s)
  while :; do
    printf '{"Status":"%s","FailingStreak":%s}\n' $status $streak >"$dir/health.tmp" && mv -f "$dir/health.tmp" "$dir/health"
    sleep "$interval"
    if timeout "$timeout" "$1" "$2" "$3" "$4" "$5" -- sh -c "$check" >/dev/null 2>&1; then
      status=healthy streak=0
    elif [ $(($(date +%s) - t0)) -ge "${start%.*}" ]; then
      streak=$((streak + 1))
      [ $streak -ge "$retries" ] && status=unhealthy
    fi
    kill -0 $$ 2>/dev/null || exit 0 # the monitor was killed: a new one may own DIR now
  done
}
while :; do
  if [ -n "$first" ]; then started=${first% *} t0=${first#* } first=; else started=$(now) t0=$(date +%s); fi
  "$@" &
  pid=$!
  record running $pid
  checker=
  if [ -n "$check" ]; then
    health "$@" >/dev/null 2>&1 & # its sleep would hold the stamper's pipe open after a stop
    checker=$!
  fi
  wait $pid
  code=$?
  [ -n "$checker" ] && kill $checker 2>/dev/null
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
