#!/usr/bin/env bash
# Run a command inside a private network namespace whose only interface is a
# multicast-enabled loopback, so mDNS (224.0.0.251 / ff02::fb) and all test
# traffic stay inside the namespace and never reach a real interface.
#
#   scripts/netns.sh CMD [ARGS...]
#
# If MICRO_NETNS=1 is already set we assume we are inside such a namespace and
# just exec the command. Requires root (unshare -n).
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

if [ "${MICRO_NETNS:-}" = "1" ]; then
	exec "$@"
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "netns.sh: must run as root (needs 'unshare -n' to create a private network namespace)" >&2
	exit 2
fi

for tool in unshare ip; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "netns.sh: required tool '$tool' not found" >&2
		exit 2
	fi
done

# Everything after "--" runs inside the new namespace. The inner script refuses
# to run the command if it can see any interface other than lo, so nothing can
# ever be multicast on a real network.
exec unshare --net -- /usr/bin/env MICRO_NETNS=1 bash -c '
set -eu
ifaces=$(ip -o link show | awk -F": " "{print \$2}" | sed "s/@.*//")
for i in $ifaces; do
	if [ "$i" != "lo" ]; then
		echo "netns.sh: unexpected interface $i inside namespace; refusing to run" >&2
		exit 2
	fi
done
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
# IPv6 multicast over lo is best effort; failures are ignored.
ip -6 route add ff00::/8 dev lo table main 2>/dev/null || true
ip -6 route add ff00::/8 dev lo table local 2>/dev/null || true
exec "$@"
' netns-inner "$@"
