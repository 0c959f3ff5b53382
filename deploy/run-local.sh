#!/usr/bin/env bash
# Builds the three services and runs them on localhost:
#   registry 127.0.0.1:8761, middle tier 127.0.0.1:9191, edge 127.0.0.1:9090, and each one's
#   admin listener (operator pages: dashboards, /metrics, /admin/config) at its port + 1.
# Ctrl-C stops them in reverse order (edge, middle tier, registry), each gracefully.
#
# Your data stays: the middle tier keeps accounts, subscriptions, categories, read marks, stars
# and sessions in the embedded SQLite store at ./data/rss.db (gitignored; created 0700/0600 on
# the first run), so a restart keeps everything. Delete ./data to start afresh;
# RSS_STORE__PATH=<file> keeps it elsewhere; RSS_STORE__KIND=memory runs on a throwaway store.
#
# Environment: PROFILE=dev for a faster, unoptimised build; RUST_LOG to change log levels.
# Any RSS_<SECTION>__<KEY> variable reaches all three services (see docs/configuration.md).
#
# Accounts are on: open the reader and create one. RSS_ACCOUNTS__SINGLE_USER=true runs it
# for you alone, with no sign-in. Every run mints its secrets into a private directory under
# target/run/ (0700, files 0600), removed on exit: a deployment CA and certificates for the edge
# and the middle tier (`middletier mint-certs`), so the two talk mutual TLS as in production; a
# fresh service token for the middle tier (RSS_API__TOKEN) and the edge (RSS_MIDDLETIER__TOKEN),
# so nothing else on this machine can call the middle tier's API (set RSS_API__TOKEN to choose
# your own); and registry credentials (deploy/mint-registry-credentials.sh): the middle tier and
# the edge get registry URLs carrying their own, and nothing else can register.
set -euo pipefail
cd "$(dirname "$0")/.."

# deploy/config/<service>.local.toml applies (RSS_ENV=test or prod picks the other files). Edit those
# files while the services run: dynamic settings apply at once (see docs/configuration.md).
export RSS_ENV=${RSS_ENV:-local}
export RSS_CONFIG_DIR=${RSS_CONFIG_DIR:-$PWD/deploy/config}
# mimalloc commits its arenas lazily, as in the image (resident memory like glibc's).
export MIMALLOC_ARENA_EAGER_COMMIT=${MIMALLOC_ARENA_EAGER_COMMIT:-0}

profile=${PROFILE:-release}
echo "==> building ($profile)"
cargo build --locked --profile "$profile" --bin registry --bin middletier --bin edge
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")

# This run's secrets: a CA, a certificate per service (0700 directory, 0600 files) and a token
# (32 random bytes, base64url), the same token for the middle tier and the edge.
run_dir=$PWD/target/run/$$
"$bin/middletier" mint-certs "$run_dir/certs" --token >/dev/null
certs=$run_dir/certs
service_token=${RSS_API__TOKEN:-$(cat "$certs/service-token")}

# Registry credentials for this run only, in a directory only you can read.
credentials=$run_dir/credentials
deploy/mint-registry-credentials.sh "$credentials" "http://127.0.0.1:8761/eureka/v2/" >/dev/null

pids=()
stop_all() {
  trap - INT TERM EXIT
  # Reverse order: the edge stops first, then the middle tier deregisters, then the registry.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$run_dir"
  echo "==> stopped"
}
trap stop_all INT TERM EXIT

wait_healthy() { # name port [curl options]
  local deadline=$((SECONDS + 30)) url="http://127.0.0.1:$2/health"
  local -a options=("${@:3}")
  if (( ${#options[@]} )); then
    # The middle tier speaks mutual TLS only, under its service name (see docs/security.md).
    url="https://middletier.rss-recipe.internal:$2/health"
    options+=(--resolve "middletier.rss-recipe.internal:$2:127.0.0.1")
  fi
  until curl -fsS "${options[@]}" "$url" >/dev/null 2>&1; do
    if (( SECONDS > deadline )) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "error: $1 did not become healthy on port $2" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "==> $1 is up on 127.0.0.1:$2"
}

# Each service in a subshell that reads its own credentials, then becomes the service.
( . "$credentials/registry.env"; exec "$bin/registry" ) & pids+=($!)
wait_healthy registry 8761
( . "$credentials/middletier.env"
  RSS_TLS__CA=$certs/ca.pem RSS_TLS__CERT=$certs/middletier.pem RSS_TLS__KEY=$certs/middletier.key \
    RSS_STORE__KIND=${RSS_STORE__KIND:-sqlite} RSS_STORE__PATH=${RSS_STORE__PATH:-$PWD/data/rss.db} \
    RSS_API__TOKEN=$service_token exec "$bin/middletier" ) & pids+=($!)
wait_healthy "middle tier" 9191 --cacert "$certs/ca.pem" \
  --cert "$certs/middletier.pem" --key "$certs/middletier.key"
( . "$credentials/edge.env"
  RSS_TLS__CA=$certs/ca.pem RSS_TLS__CERT=$certs/edge.pem RSS_TLS__KEY=$certs/edge.key \
    RSS_MIDDLETIER__TOKEN=$service_token exec "$bin/edge" ) & pids+=($!)
wait_healthy edge 9090

echo
echo "    RSS reader: http://127.0.0.1:9090/"
if [ "${RSS_ACCOUNTS__SINGLE_USER:-false}" = true ]; then
  echo "                single-user mode: no sign-in, you read as ${RSS_UI__DEFAULT_USER:-default}"
else
  echo "                create an account there (or run with RSS_ACCOUNTS__SINGLE_USER=true"
  echo "                to read without signing in)"
fi
echo "    registry:   http://127.0.0.1:8761/eureka/v2/apps (reads are open locally; changes need"
echo "                credentials: . $credentials/operator.env for an operator's URL)"
if [ "${RSS_STORE__KIND:-sqlite}" = sqlite ]; then
  echo "    your data:  ${RSS_STORE__PATH:-$PWD/data/rss.db} (kept across runs)"
else
  echo "    your data:  in the ${RSS_STORE__KIND} store"
fi
echo "    middle tier: mutual TLS only; this run's CA, certificates and token: $certs"
echo "                (docs/operations.md shows how to call it)"
echo "    operators:  http://127.0.0.1:9091/dashboard (edge), http://127.0.0.1:8762/ (registry),"
echo "                /metrics and /admin/config on 8762, 9192 and 9091"
echo "    Ctrl-C stops everything."
echo
# Returns when any service exits (or on Ctrl-C, through the trap).
wait -n "${pids[@]}"
