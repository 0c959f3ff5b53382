#!/usr/bin/env bash
# Builds the three services and runs them on localhost with the in-memory store:
#   registry 127.0.0.1:8761, middle tier 127.0.0.1:9191, edge 127.0.0.1:9090.
# Ctrl-C stops them in reverse order (edge, middle tier, registry), each gracefully.
#
# Environment: PROFILE=dev for a faster, unoptimised build; RUST_LOG to change log levels.
# Any RSS_<SECTION>__<KEY> variable reaches all three services (see README, Configuration).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-release}
echo "==> building ($profile)"
cargo build --locked --profile "$profile" --bin registry --bin middletier --bin edge
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")

pids=()
stop_all() {
  trap - INT TERM EXIT
  # Reverse order: the edge stops first, then the middle tier deregisters, then the registry.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "==> stopped"
}
trap stop_all INT TERM EXIT

wait_healthy() { # name port
  local deadline=$((SECONDS + 30))
  until curl -fsS "http://127.0.0.1:$2/health" >/dev/null 2>&1; do
    if (( SECONDS > deadline )) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "error: $1 did not become healthy on port $2" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "==> $1 is up on 127.0.0.1:$2"
}

"$bin/registry" & pids+=($!)
wait_healthy registry 8761
"$bin/middletier" & pids+=($!)
wait_healthy "middle tier" 9191
"$bin/edge" & pids+=($!)
wait_healthy edge 9090

echo
echo "    RSS reader: http://127.0.0.1:9090/"
echo "    registry:   http://127.0.0.1:8761/eureka/v2/apps"
echo "    Ctrl-C stops everything."
echo
# Returns when any service exits (or on Ctrl-C, through the trap).
wait -n "${pids[@]}"
