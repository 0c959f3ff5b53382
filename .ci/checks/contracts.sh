#!/usr/bin/env bash
# Fails when a caller's normal build reaches a server crate or a server-only dependency.
#
# Callers depend on a service's contract crate (`registry-client`, `middletier-api`), never on
# the server crate, so the edge never compiles the Cassandra driver (scylla), SQLite
# (rusqlite), the feed parser (feed-rs) or either server, and the middle tier never compiles the registry server. Tests and
# benches may still start real servers: they are dev-dependencies, which `-e normal` leaves out.
#
# `cargo tree -i PKG` prints the paths by which PKG reaches the package. It prints nothing
# (a warning on stderr) when PKG is in the lock file but not in this graph, and fails with
# "did not match any packages" when PKG is in no graph at all: both mean the rule holds.
# The graph is the host target's, which is what the services are built and deployed for.
#
# Usage: .ci/checks/contracts.sh   (from anywhere in the workspace)
set -euo pipefail

cd "$(dirname "$0")/../.."

failures=0

# forbid CALLER PKG: fails when PKG is in CALLER's normal dependency graph.
forbid() {
    local caller=$1 package=$2 tree errors status=0
    errors=$(mktemp)
    tree=$(cargo tree --locked --quiet -p "$caller" -e normal -i "$package" 2>"$errors") || status=$?
    if [[ $status -ne 0 ]]; then
        if grep -q "did not match any packages" "$errors"; then
            rm -f "$errors"
            return 0
        fi
        echo "contracts: cargo tree failed for $caller -> $package:" >&2
        cat "$errors" >&2
        rm -f "$errors"
        failures=$((failures + 1))
        return 0
    fi
    rm -f "$errors"
    if [[ -n $tree ]]; then
        echo "contracts: $caller's normal build reaches $package; depend on a contract crate" >&2
        echo "instead (registry-client, middletier-api). It arrives through:" >&2
        echo "$tree" | sed 's/^/    /' >&2
        failures=$((failures + 1))
    fi
}

for package in scylla rusqlite feed-rs middletier registry; do
    forbid edge "$package"
done
forbid middletier registry

if [[ $failures -gt 0 ]]; then
    echo "contracts: $failures forbidden dependency path(s)" >&2
    exit 1
fi
echo "contracts: the edge's normal build reaches neither server crate, scylla, rusqlite nor" \
    "feed-rs;" \
    "the middle tier's does not reach the registry server"
