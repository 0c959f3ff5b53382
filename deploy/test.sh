#!/usr/bin/env bash
# The one command that runs every test (CI runs exactly this through .ci/run):
# installs what the tests need, checks formatting and lints, runs the workspace's tests,
# and validates the Compose file.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> installing test dependencies"
bash deploy/install-test-deps.sh

echo "==> formatting and lints"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "==> tests"
cargo test --locked --workspace

echo "==> docker compose file"
docker-compose -f deploy/docker-compose.yml config --quiet
echo "deploy/docker-compose.yml is valid"
