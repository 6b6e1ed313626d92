#!/usr/bin/env bash
# Completion-to-answer latency: from the simulator hanging up a nozzle to the order
# endpoint's first 200 with the new sale (a keep-alive client asking in a loop), against
# one poll cycle + 10 ms (32 DART pumps, 9600 baud, paced link, poll_interval_ms = 0).
# Each sample is split at the end of the pump's turn that carried the sale (its last
# answer on the wire, seen from the simulator): "wire" is the hang-up to that turn's end,
# "processing" that turn's end to the first 200 (the line task, the forecourt actor, the
# journal commit, the answer's render and the snapshot's publish). "split" counts the
# samples whose turn was found.
# Usage: bench/latency.sh [samples, default 8]
source "$(dirname "$0")/lib.sh"
SAMPLES="${1:-8}"
build
machine
echo
echo "| samples | cycle ms | budget ms | median ms | max ms | max / budget | split | wire median ms | wire max ms | processing median ms | processing max ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
"$STATION" latency --pumps 32 --baud 9600 --answer-delay-ms 5 --seconds 3 \
    --poll-interval-ms 0 --samples "$SAMPLES" 2>/dev/null | awk -F'[ =]' '{
    for (i=1;i<NF;i++) v[$i]=$(i+1)
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", v["samples"], v["cycle_ms"], v["budget_ms"], v["median_ms"], v["max_ms"], v["ratio_max"], v["split"], v["wire_median_ms"], v["wire_max_ms"], v["proc_median_ms"], v["proc_max_ms"]}'
