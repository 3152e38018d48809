#!/usr/bin/env bash
# floor.sh N - "kernel floor" benchmark for netlab.
#
# Creates, verifies, times and tears down N containers' worth of kernel
# objects the leanest way we know (bridge + N netns + N veth pairs + IPv4
# config + N DNAT rules), then prints one JSON line on stdout:
#   {"n":N,"setup_ms":..,"setup_ms_per_container":..,"phaseA_ms":..,
#    "phaseB_ms":..,"phaseC_ms":..,"teardown_ms":..,"teardown_settle_ms":..,
#    "setup_settle_ms":..,"phaseB_tool":"..","teardown_mode":".."}
# setup_settle_ms (not part of setup_ms): time after phase C until the kernel's
# async linkwatch work has marked every host veth operstate up and every
# bridge port forwarding (i.e. until traffic can actually flow).
# Progress/diagnostics go to stderr.
#
# Knobs (environment):
#   PHASEB=nlfloor   phase B with one nlfloor process for all namespaces (default)
#   PHASEB=ipbatch   phase B with one `ip -n NS -batch` process per namespace
#   TEARDOWN=explicit  one ip -batch: `link del` each host veth, bridge, netns del (default)
#   TEARDOWN=group     one ip -batch: `link del group G` (one batched unregister), bridge, netns del
#   TEARDOWN=netns     one ip -batch: bridge + `netns del` only; the kernel removes the
#                      veth pairs asynchronously in its netns cleanup work
#   MTU=1500         MTU set on each container's eth0
#   EXTRAS=1         also make what netlab makes beside the links, the leanest way: the
#                    container end's MAC at creation, the host end's alias and hairpin in
#                    one request, lo's alias with lo up, a UTS namespace per container
#                    bound on /run/NAME-uts/<ns>, /etc/netns/<ns>/{hosts,resolv.conf,hostname}
#                    (nlfloor -x; removed by nlfloor -d in the timed teardown), a mount
#                    namespace per container bound on /run/NAME-mnt/<ns> as netlab makes
#                    it (a copy of one template without namespace files, its netns's sysfs, tmpfs /run, /run/lock, /tmp,
#                    /var/tmp, the three /etc files bound; by syscalls in nlfloor), and per
#                    container a filter accept rule beside its DNAT rule, plus a masquerade,
#                    and IPv6 turned off on each container interface before it comes up
#
#   NAME=nlfloor     prefix of every object's name (bridge ${NAME}0, netns ${NAME}-<i>,
#                    host veth ${VETH}<i>, nft table ip ${NAME}); VETH defaults to nlf
#   NET=10.250       the /16 to use: bridge NET.0.1/PLEN, container i gets host number i+1,
#                    i.e. NET.0.2 .. NET.3.233 for N=1000 (PLEN=22 by default, enough for 1022)
#   PORT0=20000      container i's DNAT port is PORT0 + i
# Everything created is named after NAME/VETH and is removed by an EXIT trap.
set -euo pipefail

N=${1:-}
if ! [[ $N =~ ^[0-9]+$ ]] || (( N < 1 || N > 1000 )); then
	echo "usage: $0 N   (1 <= N <= 1000; a bridge takes at most 1023 ports)" >&2
	exit 2
fi
PHASEB=${PHASEB:-nlfloor}
TEARDOWN=${TEARDOWN:-explicit}
MTU=${MTU:-1500}
EXTRAS=${EXTRAS:-0}
case $PHASEB in nlfloor|ipbatch) ;; *) echo "bad PHASEB=$PHASEB" >&2; exit 2;; esac
case $TEARDOWN in explicit|group|netns) ;; *) echo "bad TEARDOWN=$TEARDOWN" >&2; exit 2;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
NAME=${NAME:-nlfloor}
VETH=${VETH:-nlf}
NET=${NET:-10.250}
PORT0=${PORT0:-20000}
[[ $NAME =~ ^[a-z][a-z0-9]{1,10}$ && $VETH =~ ^[a-z]{2,8}$ && $NET =~ ^[0-9]+\.[0-9]+$ && $PORT0 =~ ^[0-9]+$ ]] || { echo "bad NAME/VETH/NET/PORT0" >&2; exit 2; }
BR=${NAME}0
GW=$NET.0.1
PLEN=${PLEN:-22}
GROUP=$(( 2500000 + $(cksum <<<"$NAME" | cut -d' ' -f1) % 100000 ))   # link group for TEARDOWN=group (ours only, checked)
NFT_TABLE=$NAME
OURLINK="^(${VETH}[0-9]+|${BR})\$"  # never matches netlab*, nl-*, nlv*, test-*, ovsp-*
OURNS="^${NAME}-[0-9]+\$"
UTSDIR=/run/$NAME-uts
MNTDIR=/run/$NAME-mnt

log() { echo "floor: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
ip_of() { local h=$(( $1 + 1 )); echo "$NET.$(( h >> 8 )).$(( h & 255 ))"; }
our_links() { ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E "$OURLINK" || true; }
our_netns() { ip netns list | awk '{print $1}' | grep -E "$OURNS" || true; }

TMP=
cleanup() {
	local rc=$? f batch
	trap - EXIT INT TERM
	set +e
	batch=$(mktemp /tmp/$NAME-clean.XXXXXX)
	nft delete table ip "$NFT_TABLE" 2>/dev/null || true
	if [[ -d $UTSDIR ]]; then
		for f in "$UTSDIR"/*; do [[ -e $f ]] && { umount -l "$f" 2>/dev/null; rm -f "$f"; }; done
		rmdir "$UTSDIR" 2>/dev/null
	fi
	if [[ -d $MNTDIR ]]; then
		for f in "$MNTDIR"/*; do [[ -e $f ]] && { umount -l "$f" 2>/dev/null; rm -f "$f"; }; done
		umount -l "$MNTDIR" 2>/dev/null
		rmdir "$MNTDIR" 2>/dev/null
	fi
	for d in /etc/netns/"$NAME"-*; do [[ -d $d && ${d##*/} =~ $OURNS ]] && rm -rf "$d"; done
	{ our_links | grep -v "^$BR\$" | sed 's/^/link del /'
	  our_links | grep "^$BR\$" | sed 's/^/link del /'
	  our_netns | sed 's/^/netns del /'; } >"$batch"
	if [[ -s $batch ]]; then
		ip -force -batch "$batch" >/dev/null 2>&1 || true
	fi
	rm -f "$batch"
	[[ -n $TMP ]] && rm -rf "$TMP"
	# Report (to stderr) anything of ours still present, e.g. if cleanup raced.
	if [[ -n $(our_links)$(our_netns) ]] || nft list table ip "$NFT_TABLE" >/dev/null 2>&1; then
		log "WARNING: leftovers after cleanup: $(our_links | tr '\n' ' ') $(our_netns | tr '\n' ' ')"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(id -u) == 0 ]] || die "must run as root"

# Build nlfloor if needed (outside all timings).
if [[ $PHASEB == nlfloor && ( ! -x $HERE/nlfloor || $HERE/nlfloor.c -nt $HERE/nlfloor ) ]]; then
	cc -O2 -Wall -o "$HERE/nlfloor" "$HERE/nlfloor.c"
fi

# Leftovers from an earlier aborted run: remove (ours only).
if [[ -n $(our_links)$(our_netns) ]] || nft list table ip "$NFT_TABLE" >/dev/null 2>&1; then
	log "removing leftovers of a previous run"
	( cleanup ) || true
	trap cleanup EXIT
fi

# Refuse to run if $NET.0.0/$PLEN overlaps anything routed here (other than default).
if [[ -n $(ip -4 route show root $NET.0.0/$PLEN) ]] ||
   ip -4 route show match $NET.0.0/$PLEN | grep -qv '^default'; then
	die "$NET.0.0/$PLEN overlaps an existing route: $(ip -4 route show match $NET.0.0/$PLEN | tr '\n' ';')"
fi

# ---------------------------------------------------------------- prepare inputs
TMP=$(mktemp -d /tmp/$NAME.XXXXXX)
{
	echo "link add $BR type bridge"
	echo "addr add $GW/$PLEN dev $BR"
	echo "link set $BR up"
	for (( i = 1; i <= N; i++ )); do
		echo "netns add $NAME-$i"
		# One RTM_NEWLINK creates the pair, moves the peer, enslaves and ups the host end.
		if (( EXTRAS )); then
			h=$(( i + 1 ))
			echo "link add $VETH$i group $GROUP master $BR up type veth peer name eth0 address $(printf '02:42:%02x:%02x:%02x:%02x' ${NET%%.*} ${NET##*.} $(( h >> 8 )) $(( h & 255 ))) netns $NAME-$i"
			echo "link set dev $VETH$i alias $NAME:veth:$i type bridge_slave hairpin on"
		else
			echo "link add $VETH$i group $GROUP master $BR up type veth peer name eth0 netns $NAME-$i"
		fi
	done
} >"$TMP/phaseA.batch"

for (( i = 1; i <= N; i++ )); do
	echo "$NAME-$i eth0 $(ip_of "$i")/$PLEN $GW $MTU"
done >"$TMP/phaseB.lines"

if [[ $PHASEB == ipbatch ]]; then
	mkdir "$TMP/b"
	for (( i = 1; i <= N; i++ )); do
		printf 'link set lo up\nlink set eth0 mtu %s up\naddr add %s/%s dev eth0\nroute add default via %s\n' \
			"$MTU" "$(ip_of "$i")" "$PLEN" "$GW" >"$TMP/b/$i"
	done
fi

{
	echo "table ip $NFT_TABLE {"
	echo "  chain prerouting {"
	echo "    type nat hook prerouting priority dstnat; policy accept;"
	for (( i = 1; i <= N; i++ )); do
		echo "    tcp dport $(( PORT0 + i )) dnat to $(ip_of "$i"):80"
	done
	echo "  }"
	if (( EXTRAS )); then
		echo "  chain postrouting {"
		echo "    type nat hook postrouting priority srcnat; policy accept;"
		echo "    ip saddr $NET.0.0/$PLEN oifname != \"$BR\" masquerade"
		echo "  }"
		echo "  chain forward {"
		echo "    type filter hook forward priority filter; policy accept;"
		for (( i = 1; i <= N; i++ )); do
			echo "    ip daddr $(ip_of "$i") oifname \"$BR\" tcp dport 80 accept"
		done
		echo "  }"
	fi
	echo "}"
} >"$TMP/phaseC.nft"

if (( EXTRAS )); then
	{ printf '127.0.0.1\tlocalhost\n'; for (( i = 1; i <= N; i++ )); do printf '%s\tc%d\n' "$(ip_of "$i")" "$i"; done; } >"$TMP/hosts"
	mkdir -p "$UTSDIR" /etc/netns
	NLFLOOR_ARGS=(-x "$TMP/hosts" "$UTSDIR" "$MNTDIR")
else
	NLFLOOR_ARGS=(${NLFLOOR_FLAGS:-})
fi

{
	case $TEARDOWN in
	explicit) for (( i = 1; i <= N; i++ )); do echo "link del $VETH$i"; done ;;
	group)    echo "link del group $GROUP" ;;
	netns)    ;;
	esac
	echo "link del $BR"
	for (( i = 1; i <= N; i++ )); do echo "netns del $NAME-$i"; done
} >"$TMP/teardown.batch"

# ---------------------------------------------------------------- setup (timed)
log "N=$N PHASEB=$PHASEB TEARDOWN=$TEARDOWN: setting up"
t0=$(now)
ip -batch "$TMP/phaseA.batch"
t1=$(now)
if [[ $PHASEB == nlfloor ]]; then
	"$HERE/nlfloor" "${NLFLOOR_ARGS[@]}" <"$TMP/phaseB.lines" || die "nlfloor failed"
else
	for (( i = 1; i <= N; i++ )); do
		ip -n "$NAME-$i" -batch "$TMP/b/$i" || die "ip -n $NAME-$i -batch failed"
	done
fi
t2=$(now)
nft -f "$TMP/phaseC.nft"
t3=$(now)

# ---------------------------------------------------------------- setup settle
# Carrier/operstate changes of the host veths (carrier off at creation, on
# when the peer eth0 comes up in phase B) reach the bridge only via the
# kernel's linkwatch work, which runs asynchronously and handles at most
# 100-200 devices per run with up to 1 s (HZ) between runs. Until then a port
# may still show a stale "forwarding" (added before its carrier-off event was
# processed) or be "disabled". Ready = every host veth has operstate up (its
# carrier-on event was processed) and every port of $BR is forwarding (3).
ready_ports() {
	local up fwd
	up=$(cat /sys/class/net/"$BR"/brif/*/../operstate 2>/dev/null | grep -c '^up$' || true)
	fwd=$(cat /sys/class/net/"$BR"/brif/*/state 2>/dev/null | grep -c '^3$' || true)
	echo $(( up < fwd ? up : fwd ))
}
deadline=$(( t3 + 120 * 1000000000 ))
while (( $(ready_ports) < N )); do
	(( $(now) < deadline )) || die "only $(ready_ports)/$N ports of $BR up+forwarding after 120s"
	sleep 0.02
done
t3s=$(now)

# ---------------------------------------------------------------- verify (untimed)
verify_ns() { # NS INDEX
	local ns=$1 ip; ip=$(ip_of "$2")
	ip -n "$ns" -j addr show dev eth0 | jq -e --arg a "$ip" --argjson p $PLEN --argjson m "$MTU" '
		.[0].mtu == $m and (.[0].flags | index("UP")) != null and
		([.[0].addr_info[] | select(.family == "inet" and .local == $a and .prefixlen == $p)] | length) == 1
	' >/dev/null || die "$ns: eth0 lacks $ip/$PLEN, mtu $MTU or UP: $(ip -n "$ns" -br addr show dev eth0)"
	ip -n "$ns" -j link show dev lo | jq -e '(.[0].flags | index("UP")) != null' >/dev/null ||
		die "$ns: lo is not up"
	ip -n "$ns" -j route show default | jq -e --arg g "$GW" '
		length == 1 and .[0].gateway == $g and .[0].dev == "eth0"' >/dev/null ||
		die "$ns: no default route via $GW: $(ip -n "$ns" route show default)"
}
mid=$(( (N + 1) / 2 ))
for i in $(printf '%s\n' 1 "$mid" "$N" | sort -un); do
	verify_ns "$NAME-$i" "$i"
	if (( EXTRAS )); then
		[[ $(nsenter --uts="$UTSDIR/$NAME-$i" hostname) == "$NAME-$i" ]] || die "$NAME-$i: no UTS namespace with its host name"
		grep -q "^$(ip_of "$N")	c$N\$" "/etc/netns/$NAME-$i/hosts" && [[ -s /etc/netns/$NAME-$i/resolv.conf ]] || die "$NAME-$i: /etc/netns files missing"
		[[ $(nsenter --mount="$MNTDIR/$NAME-$i" cat /etc/hostname) == "$NAME-$i" && $(nsenter --mount="$MNTDIR/$NAME-$i" findmnt -no FSTYPE /tmp) == tmpfs ]] ||
			die "$NAME-$i: no mount namespace with its /etc/hostname and a tmpfs /tmp"
		nsenter --mount="$MNTDIR/$NAME-$i" test -e /sys/class/net/eth0 || die "$NAME-$i: the mount namespace's /sys is not its netns's"
	fi
done
ports=$(ip -o link show master "$BR" | wc -l)
(( ports == N )) || die "bridge $BR has $ports ports, expected $N"
rules=$(nft -j list chain ip "$NFT_TABLE" prerouting | jq '[.nftables[] | select(.rule)] | length')
(( rules == N )) || die "nft chain has $rules rules, expected $N"
if (( N > 1 )); then target=$(ip_of "$N"); else target=$GW; fi
ip netns exec $NAME-1 ping -c 1 -w 10 -q "$target" >/dev/null ||
	die "ping $NAME-1 -> $target over $BR failed"
log "verified: 3 sampled netns (addr/lo/route), $ports bridge ports, $rules DNAT rules, ping $NAME-1 -> $target"

# ---------------------------------------------------------------- teardown (timed)
if [[ $TEARDOWN == group ]]; then
	# Safety: the group must contain only our links.
	other=$(ip -o link show group "$GROUP" | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -Ev "$OURLINK" || true)
	[[ -z $other ]] || die "link group $GROUP also holds foreign links: $other"
fi
t4=$(now)
nft delete table ip "$NFT_TABLE"
t4n=$(now)
ip -batch "$TMP/teardown.batch"
t4x=$(now)
# The UTS namespaces after the network namespaces: each umount costs more with more mounts.
if (( EXTRAS )); then
	"$HERE/nlfloor" -d "$UTSDIR" "$MNTDIR" <"$TMP/phaseB.lines" || die "nlfloor -d failed"
fi
t5=$(now)
log "teardown: nft $(ms "$t4" "$t4n") ms, ip -batch $(ms "$t4n" "$t4x") ms, extras $(ms "$t4x" "$t5") ms"
# netns deletion is asynchronous: wait until the kernel has really removed the links.
deadline=$(( t5 + 300 * 1000000000 ))
while (( $(ip -o link show | grep -cE "^[0-9]+: (${VETH}[0-9]+|${BR})[@:]" || true) > 0 )); do
	(( $(now) < deadline )) || die "links still present 300s after teardown"
	sleep 0.005
done
t6=$(now)
[[ -z $(our_netns) ]] || die "namespaces still listed after teardown"
if (( EXTRAS )); then rmdir "$UTSDIR"; fi

# ---------------------------------------------------------------- report
A=$(ms "$t0" "$t1"); B=$(ms "$t1" "$t2"); C=$(ms "$t2" "$t3")
SS=$(ms "$t3" "$t3s"); S=$(ms "$t0" "$t3"); T=$(ms "$t4" "$t5"); TS=$(ms "$t5" "$t6")
PER=$(awk -v s="$(( t3 - t0 ))" -v n="$N" 'BEGIN { printf "%.3f", s / 1e6 / n }')
printf '{"n":%d,"setup_ms":%d,"setup_ms_per_container":%s,"phaseA_ms":%d,"phaseB_ms":%d,"phaseC_ms":%d,"teardown_ms":%d,"teardown_settle_ms":%d,"setup_settle_ms":%d,"phaseB_tool":"%s","teardown_mode":"%s","extras":%d}\n' \
	"$N" "$S" "$PER" "$A" "$B" "$C" "$T" "$TS" "$SS" "$PHASEB" "$TEARDOWN" "$EXTRAS"
