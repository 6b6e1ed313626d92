#!/usr/bin/env bash
# Poll cycle of 32 DART pumps on one 9600-baud line (the simulator paces the link at
# 11 bits a character and answers after 5 ms), against the wire-time limit computed from
# the bytes actually exchanged; with poll_interval_ms = 0 and with the default 30.
# Usage: bench/poll_cycle.sh [seconds per run, default 5]
source "$(dirname "$0")/lib.sh"
DURATION="${1:-5}"
build
machine
echo
echo "| poll_interval_ms | cycle ms | wire limit ms | ratio |"
echo "| --- | --- | --- | --- |"
for interval in 0 30; do
    "$STATION" cycle --pumps 32 --baud 9600 --answer-delay-ms 5 --seconds "$DURATION" \
        --poll-interval-ms "$interval" 2>/dev/null | awk -F'[ =]' '{
        for (i=1;i<NF;i++) v[$i]=$(i+1)
        printf "| %s | %s | %s | %s |\n", v["poll_interval_ms"], v["cycle_ms"], v["wire_limit_ms"], v["ratio"]}'
done
