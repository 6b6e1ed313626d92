#!/usr/bin/env bash
# Crash-safety soak: the daemon SIGKILLed CRASH_KILLS times (default 200) during real sales
# on simulated DART pumps with the Mercado Pago sandbox, then the journal checked against
# the pumps' and the sandbox's ground truth. Prints the report: kills by phase, fillings,
# sales, payments, refunds, violations by kind. Exit status 0 only with no violation.
#
#   bench/crash-soak.sh                      # 200 kills, a fresh seed
#   CRASH_KILLS=500 CRASH_SEED=42 bench/crash-soak.sh
#   CRASH_MODE=preference bench/crash-soak.sh
#
# Other knobs: CRASH_PUMPS (3), CRASH_FLOW (120 l/min), CRASH_PHASES
# ("authorizing=2,filling=2,...,anytime=1"), CRASH_WEDGE_SECS (30), CRASH_DRAIN_SECS (40),
# CRASH_BAD_PRESET_PCT (5), CRASH_KEEP=1 (keep journal and daemon log even when clean),
# CRASH_PROFILE=debug (skip the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
export CRASH_KILLS="${CRASH_KILLS:-200}"
log="$(mktemp -t crash-soak.XXXXXX)"
status=0
profile=(--release)
[ "${CRASH_PROFILE:-release}" = debug ] && profile=()
cargo test "${profile[@]}" --test tests crash_safety_soak -- --ignored --nocapture --test-threads 1 \
    >"$log" 2>&1 || status=$?
# The report is printed once on success and once more inside the panic message on failure.
awk '/^crash-safety report/ { if (seen++) exit } seen' "$log"
grep -m1 -o 'crash-safety: seed.*' "$log" || true
if [ "$status" -ne 0 ] && ! grep -q '^crash-safety report' "$log"; then
    tail -50 "$log"
fi
echo "full output: $log"
exit "$status"
