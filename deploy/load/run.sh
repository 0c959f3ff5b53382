#!/usr/bin/env bash
# Load test: the edge serving the river page of a user with 20 feeds x 10 items (every view
# asks the middle tier for the page), next to a bare axum "hello" on the same machine in the
# same run, with the resident memory of every service idle and under load. The edge and the
# middle tier talk mutual TLS with a service token, as deployed. Everything runs on 127.0.0.1
# and is bounded: RUNS rounds of DURATION seconds per target.
#
#   deploy/load/run.sh                      # 3 rounds x 10 s, 8 connections, 1 wrk thread
#   RUNS=5 DURATION=20 CONNECTIONS=64 deploy/load/run.sh
#
# The edge's pages/s counts only river pages the reader served (deploy/load/pages.lua tells
# them from the stale fallback and error pages, which are counted apart and reported).
#
# The load generator is wrk (installed from Debian packages if missing); it shares the
# machine's cores with the services, as the issue asks ("load generator included").
# Output: one line per round, then medians and the edge/hello ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-1}
FEEDS=20
# Fixed loopback ports away from the demo's (8761/9191/9090); each service's admin listener
# takes its port + 1 (nothing here reads the admin ports).
REGISTRY_PORT=18761 MIDDLETIER_PORT=19191 EDGE_PORT=19090 FEEDS_PORT=18080 HELLO_PORT=18081

(( RUNS >= 1 && RUNS <= 20 && DURATION >= 1 && DURATION <= 60 && CONNECTIONS <= 512 )) || {
  echo "error: keep RUNS in 1..20, DURATION in 1..60 s, CONNECTIONS <= 512" >&2; exit 1; }

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing wrk"
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
  else
    echo "error: wrk is missing; install it (Debian: apt-get install wrk)" >&2; exit 1
  fi
fi

echo "==> building (release)"
cargo build --release --locked -q --bin registry --bin middletier --bin edge \
  --example bench_hello --example bench_feeds
bin=${CARGO_TARGET_DIR:-target}/release

# This run's secrets, in a private directory removed on exit: the edge calls the middle tier
# over mutual TLS, as deployed (a CA and certificates), and both register with credentials.
secrets=$(mktemp -d "${TMPDIR:-/tmp}/rss-load.XXXXXX")
certs=$secrets/certs credentials=$secrets/credentials
"$bin/middletier" mint-certs "$certs" --token >/dev/null

pids=()
stop_all() {
  trap - INT TERM EXIT
  rm -rf "$secrets"
  # Reverse order, one at a time, so each service deregisters while the registry still runs.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap stop_all INT TERM EXIT

wait_for() { # url [curl options]
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null "${@:2}" "$1" 2>/dev/null; do
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "error: the process for $1 exited" >&2; exit 1; }
    (( SECONDS < deadline )) || { echo "error: $1 did not answer" >&2; exit 1; }
    sleep 0.2
  done
}

for port in $REGISTRY_PORT $MIDDLETIER_PORT $EDGE_PORT $FEEDS_PORT $HELLO_PORT \
    $((REGISTRY_PORT + 1)) $((MIDDLETIER_PORT + 1)) $((EDGE_PORT + 1)); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "error: port $port is already in use (a previous run still going?)" >&2; exit 1
  fi
done

deploy/mint-registry-credentials.sh "$credentials" "http://127.0.0.1:$REGISTRY_PORT/eureka/v2/" >/dev/null
export RUST_LOG=warn
( . "$credentials/registry.env"; RSS_SERVER__PORT=$REGISTRY_PORT exec "$bin/registry" ) & pids+=($!)
registry_pid=$!
wait_for "http://127.0.0.1:$REGISTRY_PORT/health"
token=$(cat "$certs/service-token")
( . "$credentials/middletier.env"
  RSS_TLS__CA=$certs/ca.pem RSS_TLS__CERT=$certs/middletier.pem RSS_TLS__KEY=$certs/middletier.key \
    RSS_API__TOKEN=$token RSS_SERVER__PORT=$MIDDLETIER_PORT RSS_FETCH__ALLOW_PRIVATE_NETWORKS=true \
    exec "$bin/middletier" ) &
pids+=($!); middletier_pid=$!
wait_for "https://middletier.rss-recipe.internal:$MIDDLETIER_PORT/health" \
  --resolve "middletier.rss-recipe.internal:$MIDDLETIER_PORT:127.0.0.1" --cacert "$certs/ca.pem" \
  --cert "$certs/middletier.pem" --key "$certs/middletier.key"
# Single-user mode: the load reads one user's page without signing in (a signed-in reader
# costs one cached session look-up more per page).
( . "$credentials/edge.env"
  RSS_TLS__CA=$certs/ca.pem RSS_TLS__CERT=$certs/edge.pem RSS_TLS__KEY=$certs/edge.key \
    RSS_MIDDLETIER__TOKEN=$token RSS_ACCOUNTS__SINGLE_USER=true RSS_SERVER__PORT=$EDGE_PORT \
    exec "$bin/edge" ) & pids+=($!)
edge_pid=$!
wait_for "http://127.0.0.1:$EDGE_PORT/health"
"$bin/examples/bench_feeds" "$FEEDS_PORT" & pids+=($!)
"$bin/examples/bench_hello" "$HELLO_PORT" & pids+=($!); hello_pid=$!
wait_for "http://127.0.0.1:$HELLO_PORT/"
wait_for "http://127.0.0.1:$FEEDS_PORT/feed/0.xml"

page="http://127.0.0.1:$EDGE_PORT/"
echo "==> subscribing to $FEEDS feeds of 10 items"
for (( n=0; n<FEEDS; n++ )); do
  curl -fsS -o /dev/null -H "Origin: http://127.0.0.1:$EDGE_PORT" -H "Sec-Fetch-Site: same-origin" \
    --data-urlencode "url=http://127.0.0.1:$FEEDS_PORT/feed/$n.xml" "${page}subscriptions"
done
# The river shows one page of the newest items; it is full once every feed has been fetched.
per_page=$(( FEEDS * 10 < 50 ? FEEDS * 10 : 50 ))
deadline=$((SECONDS + 60))
until (( $(curl -fsS "$page" | grep -c '<article class="item') >= per_page )) &&
      curl -fsS "$page" | grep -q "$((FEEDS * 10))<span class=\"visually-hidden\"> unread"; do
  (( SECONDS < deadline )) || { echo "error: the page never showed $((FEEDS * 10)) unread items" >&2; exit 1; }
  sleep 0.5
done
echo "    page: $(curl -fsS "$page" | wc -c) bytes, $(curl -fsS "$page" | grep -c '<article class="item') items"

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
declare -A idle
for name in registry middletier edge hello; do
  pid_var="${name}_pid"; idle[$name]=$(rss_mb "${!pid_var}")
done

# One wrk round: prints "pages/s p50_ms p99_ms rss_mb fallback failed" (RSS of $2 sampled
# mid-run). With a wrk script ($3, the edge's river page) pages/s counts only pages the reader
# served; fallback and error answers are counted apart. Without one (hello), every 2xx counts.
round() { # url pid [wrk script]
  local out
  out=$(mktemp)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency ${3:+-s "$3"} "$1" >"$out" &
  local wrk_pid=$!
  sleep $(( DURATION / 2 ))
  local rss
  rss=$(rss_mb "$2")
  wait "$wrk_pid"
  awk -v rss="$rss" -v duration="$DURATION" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    / 50%/ { p50 = ms($2) } / 99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    /^pages: served/ { counted = 1; rps = $3 / duration; fallback = $5; failed = $7 }
    /Non-2xx|Socket errors/ { if (!counted) failed = failed " [" $0 "]" }
    END { printf "%.0f %.2f %.2f %s %d %s\n", rps, p50, p99, rss, fallback, (failed == "" ? 0 : failed) }' "$out"
  rm -f "$out"
}

echo "==> warming up"
wrk -t1 -c8 -d2s "$page" >/dev/null
wrk -t1 -c8 -d2s "http://127.0.0.1:$HELLO_PORT/" >/dev/null

echo "==> $RUNS rounds x ${DURATION}s, $CONNECTIONS connections, $THREADS wrk thread(s), $(nproc) cores"
printf '%-6s %-6s %10s %9s %9s %9s %9s %s\n' round target pages/s p50_ms p99_ms rss_mb fallback failed
edge_results=() hello_results=()
for (( r=1; r<=RUNS; r++ )); do
  line=$(round "$page" "$edge_pid" deploy/load/pages.lua); edge_results+=("$line")
  printf '%-6s %-6s %10s %9s %9s %9s %9s %s\n' "$r" edge $line
  line=$(round "http://127.0.0.1:$HELLO_PORT/" "$hello_pid"); hello_results+=("$line")
  printf '%-6s %-6s %10s %9s %9s %9s %9s %s\n' "$r" hello $line
done
under_mw=$(rss_mb "$middletier_pid") under_reg=$(rss_mb "$registry_pid")

median() { # column, lines...
  local col=$1; shift
  printf '%s\n' "$@" | awk -v c="$col" '{ print $c }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
edge_rps=$(median 1 "${edge_results[@]}") hello_rps=$(median 1 "${hello_results[@]}")
echo
echo "==> medians of $RUNS rounds"
printf '%-6s %10s %9s %9s\n' target pages/s p50_ms p99_ms
printf '%-6s %10s %9s %9s\n' edge "$edge_rps" "$(median 2 "${edge_results[@]}")" "$(median 3 "${edge_results[@]}")"
printf '%-6s %10s %9s %9s\n' hello "$hello_rps" "$(median 2 "${hello_results[@]}")" "$(median 3 "${hello_results[@]}")"
awk -v e="$edge_rps" -v h="$hello_rps" 'BEGIN { printf "edge/hello throughput: %.1f %%\n", 100 * e / h }'
not_served=$(printf '%s\n' "${edge_results[@]}" | awk '{ n += $5 + $6 } END { print n + 0 }')
if (( not_served > 0 )); then
  echo "warning: $not_served answers were fallback or error pages, counted apart (not in pages/s);"
  echo "         fewer CONNECTIONS than the edge's bulkhead (RSS_COMMANDS__GET__MAX_CONCURRENT_REQUESTS, 10) avoid them"
fi
echo
echo "==> resident memory (MiB): idle / under load"
printf '%-10s %6s / %s\n' registry "${idle[registry]}" "$under_reg" \
  middletier "${idle[middletier]}" "$under_mw" \
  edge "${idle[edge]}" "$(median 4 "${edge_results[@]}")" \
  hello "${idle[hello]}" "$(median 4 "${hello_results[@]}")"
