#!/usr/bin/env bash
# Idle cost with 32 positions polling (default poll interval): resident memory and CPU
# of the daemon (the simulator's thread, which shares the process, is left out).
# Usage: bench/idle.sh [seconds, default 10]
source "$(dirname "$0")/lib.sh"
DURATION="${1:-10}"
build
start_station --pumps 32 --poll-interval-ms 30
sleep 3
HZ=$(getconf CLK_TCK)
# CPU ticks of every thread but the simulator's.
ticks() {
    local total=0
    for t in /proc/"$STATION_PID"/task/*; do
        [ "$(cat "$t/comm")" = "sim-line" ] && continue
        total=$((total + $(awk '{print $14 + $15}' "$t/stat")))
    done
    echo "$total"
}
T0=$(ticks); sleep "$DURATION"; T1=$(ticks)
RSS=$(rss_kib "$STATION_PID")
machine
echo
echo "| positions | RSS MiB | RSS / 15 MiB target | CPU % of one core | CPU / 1 % target |"
echo "| --- | --- | --- | --- | --- |"
awk -v r="$RSS" -v t="$((T1 - T0))" -v hz="$HZ" -v d="$DURATION" 'BEGIN{
    cpu = 100 * t / hz / d
    printf "| 32 | %.1f | %.2f | %.2f | %.2f |\n", r/1024, r/1024/15, cpu, cpu/1}'
