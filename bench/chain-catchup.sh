#!/usr/bin/env bash
# Chain catch-up: a station holding 10 000 events it could not send during an outage
# connects to a local nats-server (JetStream) while `forecourtd hq-sink` loads a local
# PostgreSQL; prints the time until JetStream acknowledged every event (publish
# throughput) and until PostgreSQL held every one of them (catch-up time).
# Needs nats-server and postgresql (apt-get install nats-server postgresql).
#
#   bench/chain-catchup.sh
#   CHAIN_PROFILE=debug bench/chain-catchup.sh   # skip the release build
set -euo pipefail
cd "$(dirname "$0")/.."
profile=(--release)
if [ "${CHAIN_PROFILE:-release}" = debug ]; then
    profile=()
fi
cargo test "${profile[@]}" --test tests chain::catch_up_after_an_outage -- \
    --ignored --nocapture --test-threads 1 2>&1 | grep -E '^chain catch-up|SKIPPED|panicked|FAILED'
