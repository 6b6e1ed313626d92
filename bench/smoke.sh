#!/usr/bin/env bash
# Smoke run of every figure script for CI: the shortest durations, a debug build (the one
# `cargo test` has already built), and no judgement of the figures, which a shared CI
# machine cannot give reliably. Fails only when a script fails or prints no table row.
# Usage: bench/smoke.sh
set -euo pipefail
cd "$(dirname "$0")"
export BENCH_PROFILE="${BENCH_PROFILE:-debug}"
# script and its shortest arguments
runs=(
    "order_endpoint.sh 1 1"
    "flood_memory.sh 1"
    "poll_cycle.sh 1"
    "latency.sh 1"
    "idle.sh 1"
)
failed=0
for run in "${runs[@]}"; do
    read -r script args <<<"$run"
    started=$SECONDS
    if ! out=$(bash "./$script" $args 2>&1); then
        echo "FAIL $script: exited non-zero"
        echo "$out" | tail -20
        failed=$((failed + 1))
        continue
    fi
    # A data row: `| <number> …`, the header and separator rows start otherwise.
    if ! echo "$out" | grep -qE '^\| [0-9]'; then
        echo "FAIL $script: printed no table row"
        echo "$out" | tail -20
        failed=$((failed + 1))
        continue
    fi
    echo "ok   $script ($((SECONDS - started)) s)"
    echo "$out" | grep -E '^\| ' | sed 's/^/     /'
done
echo "bench smoke: ${#runs[@]} scripts run, $failed of them failed"
[ "$failed" -eq 0 ]
