#!/usr/bin/env bash
# Load test of the reader: the edge serving the river page (50 items of a user with 20 feeds x
# 10 items; every view asks the middle tier for the page), with every answer sorted by
# deploy/load/pages.lua into served, stale (a 200 with a banner), shed (503 + Retry-After) and
# error. Only served pages count as throughput, and a scenario fails where the system is
# healthy and a reader still got anything but the page. The edge and the middle tiers talk
# mutual TLS with a service token, as deployed. Everything runs on 127.0.0.1, bounded in time
# and connections.
#
#   deploy/load/run.sh [scenario...]     # default: healthy
#
#   healthy   one middle tier (memory store), 32 then 128 connections: RUNS rounds of DURATION
#             seconds of the river beside a bare axum "hello" in the same run; medians, p50/p99,
#             the ratio to hello. Fails on any stale, shed or error page.
#   kill      two middle tiers sharing Cassandra (deploy/cassandra/run.sh start; keyspace
#             rss_load, a new user per run), 32 connections: the Cassandra baseline (RUNS
#             rounds), then one round in which one middle tier gets kill -9 a third of the way
#             in. Fails if more than 1 % of pages are stale or shed, or on any error.
#   overload  one middle tier, 512 connections for DURATION, then rounds of 1 s at 32 until one
#             serves nothing but pages. Reports what readers got under overload, p99, the
#             edge's peak resident memory, and the seconds to recover. Fails on any error, if the
#             edge grows past EDGE_MAX_MB, or if it has not recovered within RECOVER_WITHIN s.
#   all       the three, in that order.
#
#   RUNS=5 DURATION=20 deploy/load/run.sh healthy kill
#
# The load generator is wrk (installed from Debian packages if missing, when root); it shares
# the machine's cores with the services, as the goals ask ("load generator included").
# Each scenario ends with Markdown table rows for docs/benchmarks.md.
# shellcheck disable=SC1091 # sources credential files this run writes
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
THREADS=${THREADS:-1}
# A page slower than this is an error: a reader who waits this long has given up.
TIMEOUT=${TIMEOUT:-5}
RECOVER_WITHIN=${RECOVER_WITHIN:-15}
EDGE_MAX_MB=${EDGE_MAX_MB:-256}
FEEDS=20
# Fixed loopback ports away from the demo's (8761/9191/9090); each service's admin listener
# takes its port + 1 (nothing here reads the admin ports).
REGISTRY_PORT=18761 MIDDLETIER_PORTS=(19191 19193) EDGE_PORT=19090 FEEDS_PORT=18080 HELLO_PORT=18081
PAGES_LUA=deploy/load/pages.lua

die() { echo "error: $*" >&2; exit 1; }

# Whole numbers only, checked before any arithmetic sees them (bash would evaluate an
# expression hidden in a value).
for name in RUNS DURATION THREADS TIMEOUT RECOVER_WITHIN EDGE_MAX_MB; do
  [[ ${!name} =~ ^(0|[1-9][0-9]{0,3})$ ]] || die "$name must be a whole number, not '${!name}'"
done
(( RUNS >= 1 && RUNS <= 20 && DURATION >= 3 && DURATION <= 60 && THREADS >= 1 && THREADS <= 4 &&
   TIMEOUT >= 1 && TIMEOUT <= 30 && RECOVER_WITHIN >= 1 && RECOVER_WITHIN <= 120 && EDGE_MAX_MB >= 16 )) ||
  die "keep RUNS in 1..20, DURATION in 3..60 s, THREADS in 1..4, TIMEOUT in 1..30 s, RECOVER_WITHIN in 1..120 s, EDGE_MAX_MB at least 16"
[ -z "${CONNECTIONS:-}" ] ||
  die "CONNECTIONS is no longer read: each scenario sets its own (healthy 32 and 128, kill 32, overload 512 then 32)"

scenarios=("$@")
(( ${#scenarios[@]} > 0 )) || scenarios=(healthy)
for s in "${scenarios[@]}"; do
  case $s in
    healthy | kill | overload) ;;
    all) scenarios=(healthy kill overload); break ;;
    *) die "unknown scenario '$s' (healthy, kill, overload or all)" ;;
  esac
done

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing wrk"
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
  else
    die "wrk is missing; install it (Debian: apt-get install wrk)"
  fi
fi

echo "==> building (release)"
cargo build --release --locked -q --bin registry --bin middletier --bin edge \
  --example bench_hello --example bench_feeds
bin=${CARGO_TARGET_DIR:-target}/release
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo "+changes")

# ---------------------------------------------------------------------------------------------
# Starting and stopping the system. A scenario runs in a subshell that starts what it needs and
# stops it on exit, whatever happens.

pids=()
secrets=
# shellcheck disable=SC2317 # run by the EXIT trap
stop_all() {
  trap - INT TERM EXIT
  # Reverse order, one at a time, so each service deregisters while the registry still runs.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  [ -z "$secrets" ] || rm -rf "$secrets"
}

wait_for() { # url [curl options]
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "${@:2}" "$1" 2>/dev/null; do
    kill -0 "${pids[-1]}" 2>/dev/null || die "the process for $1 exited"
    (( SECONDS < deadline )) || die "$1 did not answer within 60 s"
    sleep 0.2
  done
}

# Starts the registry, $1 middle tiers (with the environment assignments that follow), the
# edge, the feed publisher and hello; subscribes the reader to FEEDS feeds and waits until the
# river page is full. Sets edge_pid, hello_pid, middletier_pids and page.
start_system() { # middle_tiers [NAME=value...]
  local count=$1; shift
  local port
  for port in $REGISTRY_PORT "${MIDDLETIER_PORTS[@]}" $EDGE_PORT $FEEDS_PORT $HELLO_PORT \
      $((REGISTRY_PORT + 1)) $((MIDDLETIER_PORTS[0] + 1)) $((MIDDLETIER_PORTS[1] + 1)) $((EDGE_PORT + 1)); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      die "port $port is already in use (a previous run still going?)"
    fi
  done
  # This run's secrets, in a private directory removed on exit: the edge calls the middle
  # tiers over mutual TLS, as deployed, and every service registers with credentials.
  secrets=$(mktemp -d "${TMPDIR:-/tmp}/rss-load.XXXXXX")
  local certs=$secrets/certs credentials=$secrets/credentials
  "$bin/middletier" mint-certs "$certs" --token >/dev/null
  deploy/mint-registry-credentials.sh "$credentials" "http://127.0.0.1:$REGISTRY_PORT/eureka/v2/" >/dev/null
  local token
  token=$(cat "$certs/service-token")
  export RUST_LOG=warn
  # mimalloc commits its arenas lazily, as in the image (resident memory like glibc's).
  export MIMALLOC_ARENA_EAGER_COMMIT=${MIMALLOC_ARENA_EAGER_COMMIT:-0}

  ( . "$credentials/registry.env"; RSS_SERVER__PORT=$REGISTRY_PORT exec "$bin/registry" ) &
  pids+=($!)
  wait_for "http://127.0.0.1:$REGISTRY_PORT/health"

  middletier_pids=()
  local n
  for (( n=0; n<count; n++ )); do
    port=${MIDDLETIER_PORTS[n]}
    ( . "$credentials/middletier.env"
      # shellcheck disable=SC2163 # the arguments are NAME=value assignments
      (( $# == 0 )) || export "$@"
      RSS_TLS__CA=$certs/ca.pem RSS_TLS__CERT=$certs/middletier.pem RSS_TLS__KEY=$certs/middletier.key \
        RSS_API__TOKEN=$token RSS_SERVER__PORT=$port RSS_FETCH__ALLOW_PRIVATE_NETWORKS=true \
        exec "$bin/middletier" ) &
    pids+=($!); middletier_pids+=($!)
    wait_for "https://middletier.rss-recipe.internal:$port/health" \
      --resolve "middletier.rss-recipe.internal:$port:127.0.0.1" --cacert "$certs/ca.pem" \
      --cert "$certs/middletier.pem" --key "$certs/middletier.key"
  done

  # Single-user mode: the load reads one user's page without signing in (a signed-in reader
  # costs one cached session look-up more per page).
  ( . "$credentials/edge.env"
    # shellcheck disable=SC2163 # the arguments are NAME=value assignments
    (( $# == 0 )) || export "$@"
    RSS_TLS__CA=$certs/ca.pem RSS_TLS__CERT=$certs/edge.pem RSS_TLS__KEY=$certs/edge.key \
      RSS_MIDDLETIER__TOKEN=$token RSS_ACCOUNTS__SINGLE_USER=true RSS_SERVER__PORT=$EDGE_PORT \
      exec "$bin/edge" ) &
  pids+=($!); edge_pid=$!
  wait_for "http://127.0.0.1:$EDGE_PORT/health"
  "$bin/examples/bench_feeds" "$FEEDS_PORT" & pids+=($!)
  wait_for "http://127.0.0.1:$FEEDS_PORT/feed/0.xml"
  "$bin/examples/bench_hello" "$HELLO_PORT" & pids+=($!); hello_pid=$!
  wait_for "http://127.0.0.1:$HELLO_PORT/"

  page="http://127.0.0.1:$EDGE_PORT/"
  echo "==> subscribing to $FEEDS feeds of 10 items"
  for (( n=0; n<FEEDS; n++ )); do
    curl -fsS -o /dev/null -H "Origin: http://127.0.0.1:$EDGE_PORT" -H "Sec-Fetch-Site: same-origin" \
      --data-urlencode "url=http://127.0.0.1:$FEEDS_PORT/feed/$n.xml" "${page}subscriptions"
  done
  # The river shows one page of the newest items; it is full once every feed has been fetched.
  local per_page=$(( FEEDS * 10 < 50 ? FEEDS * 10 : 50 )) deadline=$((SECONDS + 60)) body
  until body=$(curl -fsS "$page") &&
        (( $(grep -c '<article class="item' <<<"$body") >= per_page )) &&
        grep -q "$((FEEDS * 10))<span class=\"visually-hidden\"> unread" <<<"$body"; do
    (( SECONDS < deadline )) || die "the page never showed $((FEEDS * 10)) unread items"
    sleep 0.5
  done
  echo "    page: $(wc -c <<<"$body") bytes, $(grep -c '<article class="item' <<<"$body") items"
  echo "==> warming up"
  wrk -t1 -c8 -d2s "$page" >/dev/null
  wrk -t1 -c8 -d2s "http://127.0.0.1:$HELLO_PORT/" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Measuring.

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# One wrk round against $1 for $3 seconds at $2 connections, the resident memory of process $4
# sampled twice a second. Prints "pages/s p50_ms p99_ms served stale shed error peak_rss_mb",
# where pages/s counts served pages only.
round() { # url connections seconds pid
  local out
  out=$(mktemp)
  wrk -t"$THREADS" -c"$2" -d"$3s" --timeout "${TIMEOUT}s" --latency -s "$PAGES_LUA" "$1" >"$out" &
  local wrk_pid=$! peak=0 rss
  while kill -0 "$wrk_pid" 2>/dev/null; do
    rss=$(rss_mb "$4")
    peak=$(awk -v a="$peak" -v b="$rss" 'BEGIN { print (b > a ? b : a) }')
    sleep 0.5
  done
  wait "$wrk_pid" || { cat "$out" >&2; rm -f "$out"; die "wrk failed"; }
  # Why pages were stale, for the reader of the output (not part of the printed line).
  sed -n 's/^banner: /         banner: /p' "$out" >&2
  awk -v rss="$peak" '/^pages: served/ {
      printf "%.0f %.2f %.2f %d %d %d %d %s\n", $3 / $11, $13, $15, $3, $5, $7, $9, rss; found = 1 }
    END { if (!found) exit 1 }' "$out" || { cat "$out" >&2; rm -f "$out"; die "no counts from $PAGES_LUA"; }
  rm -f "$out"
}

median() { # column, lines...
  local col=$1; shift
  printf '%s\n' "$@" | awk -v c="$col" '{ print $c }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
sum() { # column, lines...
  local col=$1; shift
  printf '%s\n' "$@" | awk -v c="$col" '{ n += $c } END { print n + 0 }'
}
header() { printf '%-8s %-6s %6s %9s %8s %8s %8s %7s %6s %6s %7s\n' round target conns pages/s p50_ms p99_ms served stale shed error rss_mb; }
row() { # round target conns line
  # shellcheck disable=SC2086 # the line is the fields
  printf '%-8s %-6s %6s %9s %8s %8s %8s %7s %6s %6s %7s\n' "$1" "$2" "$3" $4
}
machine() { echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"; }

# ---------------------------------------------------------------------------------------------
# Scenarios. Each prints its results and returns non-zero when it failed.

healthy() {
  start_system 1
  local c r line rows=() failed=0
  for c in 32 128; do
    echo "==> healthy: $RUNS rounds x ${DURATION}s, $c connections, $THREADS wrk thread(s), $(machine)"
    header
    local edge=() hello=()
    for (( r=1; r<=RUNS; r++ )); do
      line=$(round "$page" "$c" "$DURATION" "$edge_pid"); edge+=("$line"); row "$r" edge "$c" "$line"
      line=$(round "http://127.0.0.1:$HELLO_PORT/" "$c" "$DURATION" "$hello_pid"); hello+=("$line"); row "$r" hello "$c" "$line"
    done
    local e_rps h_rps not_served
    e_rps=$(median 1 "${edge[@]}") h_rps=$(median 1 "${hello[@]}")
    not_served=$(( $(sum 5 "${edge[@]}") + $(sum 6 "${edge[@]}") + $(sum 7 "${edge[@]}") ))
    # The speed goal is reported, never a failure: it depends on the machine and its load.
    (( c != 32 )) || awk -v r="$e_rps" -v p="$(median 3 "${edge[@]}")" 'BEGIN {
      printf "    goal at 32 connections, at least 3,000 pages/s with p99 at most 30 ms: %s\n",
        (r >= 3000 && p <= 30) ? "met" : "not met on this machine" }'
    rows+=("$(printf '| healthy | %s | %s | %s | %s | %s | %s (%s %%) | %s / %s / %s | %s |' \
      "$c" "$e_rps" "$(median 2 "${edge[@]}")" "$(median 3 "${edge[@]}")" "$(sum 4 "${edge[@]}")" \
      "$h_rps" "$(awk -v e="$e_rps" -v h="$h_rps" 'BEGIN { printf "%.1f", 100 * e / h }')" \
      "$(sum 5 "${edge[@]}")" "$(sum 6 "${edge[@]}")" "$(sum 7 "${edge[@]}")" "$(median 8 "${edge[@]}")")")
    if (( not_served > 0 )); then
      echo "FAIL: $not_served answers at $c connections were stale, shed or errors, with a healthy middle tier"
      failed=1
    fi
  done
  echo
  echo "| scenario | connections | pages/s (median) | p50 ms | p99 ms | pages served | hello req/s (edge/hello) | stale / shed / error | edge MiB |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  return "$failed"
}

kill_one() {
  deploy/cassandra/run.sh start
  # A keyspace of the load test's own, and a user no earlier run had, so runs never mix with
  # each other, the tests' (rss_test) or the demo's (rss).
  start_system 2 RSS_STORE__KIND=cassandra RSS_CASSANDRA__NODES=127.0.0.1:9042 \
    RSS_CASSANDRA__KEYSPACE=rss_load "RSS_UI__DEFAULT_USER=load$(date +%s)"
  local r line base=() failed=0 c=32
  echo "==> kill: Cassandra baseline, $RUNS rounds x ${DURATION}s, $c connections, $(machine)"
  header
  for (( r=1; r<=RUNS; r++ )); do
    line=$(round "$page" "$c" "$DURATION" "$edge_pid"); base+=("$line"); row "$r" edge "$c" "$line"
  done
  echo "==> kill: ${DURATION}s at $c connections; kill -9 of one of the two middle tiers after $(( DURATION / 3 ))s"
  local out victim=${middletier_pids[1]}
  out=$(mktemp)
  round "$page" "$c" "$DURATION" "$edge_pid" >"$out" &
  local measuring=$!
  sleep $(( DURATION / 3 ))
  kill -9 "$victim"
  # Reaped here, quietly: the shell would otherwise report the kill it was asked for.
  wait "$victim" 2>/dev/null || true
  wait "$measuring" || { rm -f "$out"; die "the kill round failed"; }
  line=$(cat "$out"); rm -f "$out"
  header; row kill edge "$c" "$line"
  local served stale shed errors degraded
  read -r _ _ _ served stale shed errors _ <<<"$line"
  degraded=$(awk -v s="$served" -v t="$stale" -v h="$shed" -v e="$errors" \
    'BEGIN { n = s + t + h + e; printf "%.2f", n ? 100 * (t + h) / n : 100 }')
  echo "    stale or shed: $degraded % of $(( served + stale + shed + errors )) answers; errors: $errors"
  echo
  echo "| scenario | connections | pages/s (median) | p50 ms | p99 ms | pages served | stale / shed / error | stale or shed |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '| Cassandra, healthy | %s | %s | %s | %s | %s | %s / %s / %s | |\n' "$c" "$(median 1 "${base[@]}")" \
    "$(median 2 "${base[@]}")" "$(median 3 "${base[@]}")" "$(sum 4 "${base[@]}")" \
    "$(sum 5 "${base[@]}")" "$(sum 6 "${base[@]}")" "$(sum 7 "${base[@]}")"
  local rps p50 p99
  read -r rps p50 p99 _ <<<"$line"
  printf '| Cassandra, kill -9 of one of two | %s | %s | %s | %s | %s | %s / %s / %s | %s %% |\n' "$c" "$rps" \
    "$p50" "$p99" "$served" "$stale" "$shed" "$errors" "$degraded"
  awk -v d="$degraded" 'BEGIN { exit !(d > 1) }' && { echo "FAIL: more than 1 % stale or shed pages"; failed=1; }
  (( errors == 0 )) || { echo "FAIL: $errors errors"; failed=1; }
  (( $(sum 5 "${base[@]}") + $(sum 6 "${base[@]}") + $(sum 7 "${base[@]}") == 0 )) ||
    { echo "FAIL: stale, shed or error pages in the baseline, with both middle tiers healthy"; failed=1; }
  return "$failed"
}

overload() {
  start_system 1
  local line failed=0
  echo "==> overload: ${DURATION}s at 512 connections, then 1 s rounds at 32 until every answer is a page, $(machine)"
  header
  line=$(round "$page" 512 "$DURATION" "$edge_pid"); row overload edge 512 "$line"
  local end=$SECONDS recovered='' after r=0 l
  while (( SECONDS - end < RECOVER_WITHIN )); do
    r=$((r + 1))
    l=$(round "$page" 32 1 "$edge_pid"); row "after-$r" edge 32 "$l"
    if [ "$(awk '{ print $5 + $6 + $7 }' <<<"$l")" = 0 ]; then recovered=yes; break; fi
  done
  after=$((SECONDS - end))
  local back="not within ${RECOVER_WITHIN} s"
  [ -z "$recovered" ] || back="within ${after} s"
  local served stale shed errors peak
  read -r _ _ _ served stale shed errors peak <<<"$line"
  echo
  echo "| scenario | connections | served / stale / shed / error | p99 ms | edge peak MiB | back to 0 stale |"
  echo "|---|---|---|---|---|---|"
  printf '| overload | 512 then 32 | %s / %s / %s / %s | %s | %s | %s |\n' "$served" "$stale" "$shed" "$errors" \
    "$(awk '{ print $3 }' <<<"$line")" "$peak" "$back"
  (( errors == 0 )) || { echo "FAIL: $errors errors under overload (shedding should be a stale page or a 503)"; failed=1; }
  awk -v p="$peak" -v m="$EDGE_MAX_MB" 'BEGIN { exit !(p > m) }' &&
    { echo "FAIL: the edge grew to $peak MiB (EDGE_MAX_MB $EDGE_MAX_MB)"; failed=1; }
  [ -n "$recovered" ] || { echo "FAIL: still stale, shed or error pages ${RECOVER_WITHIN} s after the load dropped"; failed=1; }
  return "$failed"
}

# ---------------------------------------------------------------------------------------------

echo "==> commit $commit, $(machine)"
status=0
for s in "${scenarios[@]}"; do
  set +e
  (
    set -e
    trap stop_all EXIT
    trap 'exit 130' INT TERM
    case $s in
      healthy) healthy ;;
      kill) kill_one ;;
      overload) overload ;;
    esac
  )
  result=$?
  set -e
  if (( result != 0 )); then echo "==> $s: FAILED"; status=1; else echo "==> $s: passed"; fi
done
exit "$status"
