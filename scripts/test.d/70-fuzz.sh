#!/usr/bin/env bash
# A short fuzzing pass over every network decoder (scripts/fuzz.sh; 10 s per target here,
# run it longer by hand: scripts/fuzz.sh 600).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "$top/scripts/fuzz.sh" "${FUZZ_SECONDS:-10}"
