#!/usr/bin/env bash
# Order endpoint vs nginx `return 200` of the same bytes, with wrk at 1, 64 and 256
# connections. Each server runs alone on core 0, wrk on core 1, keep-alive. The two take
# turns, ROUNDS times at each count, and each figure is the median of its rounds: a burst
# of other work on a shared machine then spoils one round, not the table.
# Usage: bench/order_endpoint.sh [seconds per run, default 5] [rounds, default 3]
source "$(dirname "$0")/lib.sh"
DURATION="${1:-5}"
ROUNDS="${2:-3}"
need wrk wrk nginx nginx-light curl curl
build
start_station --pumps 32 --poll-interval-ms 30
URL="http://$PUBLIC/pay-mp?apies=29&pos=1"
curl -sf "$URL" >"$WORK/body.json"
BYTES=$(wc -c <"$WORK/body.json")

# nginx serves the same body from its config; `$` would start a variable there.
NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BODY=$(sed -e 's/\$/${dollar}/g' -e "s/'/\\\\'/g" "$WORK/body.json")
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    geo \$dollar { default "\$"; }
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /pay-mp { default_type application/json; return 200 '$BODY'; }
    }
}
CONF
taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGINX_PID=$!
trap 'kill "$NGINX_PID" 2>/dev/null || true; cleanup' EXIT
NGINX_URL="http://127.0.0.1:$NGINX_PORT/pay-mp?apies=29&pos=1"
for _ in $(seq 1 50); do curl -sf "$NGINX_URL" >"$WORK/nginx.json" 2>/dev/null && break; sleep 0.1; done
cmp -s "$WORK/body.json" "$WORK/nginx.json" || { echo "nginx does not serve the same bytes" >&2; exit 1; }

# Prints "rps p99_ms" of one wrk run.
run_wrk() {
    taskset -c 1 wrk -t1 -c"$2" -d"${DURATION}s" --latency "$1" | awk '
        /Requests\/sec:/ {rps=$2}
        /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; p99=v}
        END {printf "%d %.2f\n", rps, p99}'
}

# The median of numbers given one a line.
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

machine
echo "order JSON: $BYTES bytes; ${DURATION} s per run; median of $ROUNDS rounds"
echo
echo "| connections | forecourtd rps | p99 ms | nginx rps | p99 ms | rps ratio | p99 ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for c in 1 64 256; do
    : >"$WORK/ours" && : >"$WORK/theirs"
    for _ in $(seq 1 "$ROUNDS"); do
        run_wrk "$URL" "$c" >>"$WORK/ours"
        run_wrk "$NGINX_URL" "$c" >>"$WORK/theirs"
    done
    f_rps=$(awk '{print $1}' "$WORK/ours" | median)
    f_p99=$(awk '{print $2}' "$WORK/ours" | median)
    n_rps=$(awk '{print $1}' "$WORK/theirs" | median)
    n_p99=$(awk '{print $2}' "$WORK/theirs" | median)
    awk -v c="$c" -v fr="$f_rps" -v fp="$f_p99" -v nr="$n_rps" -v np="$n_p99" 'BEGIN{
        printf "| %d | %d | %.2f | %d | %.2f | %.2f | %.2f |\n", c, fr, fp, nr, np, fr/nr, (np>0?fp/np:0)}'
done
