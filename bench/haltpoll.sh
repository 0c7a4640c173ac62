#!/usr/bin/env bash
# Runs a command with this virtual machine's guest halt polling set to HALT_POLL_NS
# (default 200000, 200 µs) and puts the old value back when it ends, however it ends
# (issue 18). With Linux's `haltpoll` cpuidle driver an idle vCPU spins up to that long
# before it halts; at 0 it exits to the hypervisor at once, and waking it again (an
# interrupt through the host) is the dearest step of a call whose threads sleep on
# different vCPUs: the unpinned rows. Needs root and the `haltpoll` driver; it changes a
# machine-wide setting, so nothing else should be measured meanwhile.
#
#   bash bench/haltpoll.sh env ONLY=hostserve D=3 WARMUP=1 REPS=3 bash bench/run.sh
#   HALT_POLL_NS=0 bash bench/haltpoll.sh bench/target/release/loadgen unary --addr …
set -euo pipefail
knob=/sys/module/haltpoll/parameters/guest_halt_poll_ns
[ $# -gt 0 ] || { echo "usage: [HALT_POLL_NS=ns] bench/haltpoll.sh COMMAND [ARGS…]" >&2; exit 2; }
[ -w "$knob" ] || { echo "haltpoll.sh: $knob is not writable (root, and the haltpoll cpuidle driver, needed)" >&2; exit 1; }
old="$(cat "$knob")"
trap 'echo "$old" >"$knob"' EXIT
echo "${HALT_POLL_NS:-200000}" >"$knob"
echo "haltpoll.sh: guest_halt_poll_ns $old -> $(cat "$knob") for: $*" >&2
"$@"
