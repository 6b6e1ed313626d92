# Shared helpers of the bench scripts; sourced, never run.
# The machine is expected to have two cores or more: what is measured runs on core 0,
# the load generator on core 1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# BENCH_PROFILE=debug measures a debug build (quicker to build, slower to run).
PROFILE="${BENCH_PROFILE:-release}"
STATION="$ROOT/target/$PROFILE/examples/bench_station"
WORK="$(mktemp -d)"
STATION_PID=""
cleanup() {
    exec 3>&- 2>/dev/null || true
    if [ -n "$STATION_PID" ]; then wait "$STATION_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Installs Debian packages whose commands are missing: need COMMAND PACKAGE ...
need() {
    local missing=()
    while [ $# -gt 1 ]; do
        command -v "$1" >/dev/null || missing+=("$2")
        shift 2
    done
    if [ ${#missing[@]} -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

build() {
    local flag="--release"
    [ "$PROFILE" = release ] || flag=""
    (cd "$ROOT" && cargo build $flag --quiet --example bench_station)
}

# Starts `bench_station serve` pinned to core 0 with its stdin on fd 3; sets STATION_PID
# and PUBLIC (host:port). Closing fd 3 stops it.
start_station() {
    mkfifo "$WORK/station.in"
    taskset -c 0 "$STATION" serve "$@" <"$WORK/station.in" >"$WORK/station.out" 2>"$WORK/station.err" &
    STATION_PID=$!
    exec 3>"$WORK/station.in"
    for _ in $(seq 1 600); do
        if grep -q '^READY ' "$WORK/station.out" 2>/dev/null; then
            PUBLIC="$(awk '/^READY /{print $2}' "$WORK/station.out")"
            pin_simulator
            return 0
        fi
        sleep 0.1
    done
    echo "the station did not start:" >&2
    cat "$WORK/station.err" >&2
    exit 1
}

# The simulated pumps stand for hardware on the other end of a serial line: their thread
# runs on core 1 (with the load generator), so core 0 holds only what the daemon does.
pin_simulator() {
    local task
    for task in /proc/"$STATION_PID"/task/*; do
        if [ "$(cat "$task/comm" 2>/dev/null)" = sim-line ]; then
            taskset -p -c 1 "${task##*/}" >/dev/null
        fi
    done
}

stop_station() {
    exec 3>&-
    wait "$STATION_PID" 2>/dev/null || true
    STATION_PID=""
}

# Resident set of a process in KiB.
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

machine() {
    echo "machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "note: a shared, noisy machine; figures vary from run to run"
}
