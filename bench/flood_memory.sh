#!/usr/bin/env bash
# Resident memory of the daemon idle, under a 256-connection flood of order calls, and
# after it. Usage: bench/flood_memory.sh [seconds of flood, default 5]
source "$(dirname "$0")/lib.sh"
DURATION="${1:-5}"
need wrk wrk
build
start_station --pumps 32 --poll-interval-ms 30
URL="http://$PUBLIC/pay-mp?apies=29&pos=1"
sleep 1
IDLE=$(rss_kib "$STATION_PID")
PEAK=$IDLE
taskset -c 1 wrk -t1 -c256 -d"${DURATION}s" "$URL" >"$WORK/wrk.out" &
WRK_PID=$!
while kill -0 "$WRK_PID" 2>/dev/null; do
    now=$(rss_kib "$STATION_PID"); [ "$now" -gt "$PEAK" ] && PEAK=$now
    sleep 0.1
done
sleep 2
AFTER=$(rss_kib "$STATION_PID")
machine
echo "flood: 256 connections, ${DURATION} s, $(awk '/Requests\/sec/{print $2}' "$WORK/wrk.out") rps"
echo
echo "| RSS idle MiB | RSS peak MiB | RSS 2 s after MiB | peak / 32 MiB target | after - idle MiB |"
echo "| --- | --- | --- | --- | --- |"
awk -v i="$IDLE" -v p="$PEAK" -v a="$AFTER" 'BEGIN{
    printf "| %.1f | %.1f | %.1f | %.2f | %.1f |\n", i/1024, p/1024, a/1024, p/1024/32, (a-i)/1024}'
