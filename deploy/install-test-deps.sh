#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, JDK 17, Maven and Python (which the machine
# has): Debian's chromium and chromium-driver, which edge/tests/browser.rs drives over
# WebDriver, and docker-compose, which validates deploy/docker-compose.yml. Cassandra's jars are
# fetched by deploy/cassandra/run.sh on first start. Idempotent: installs only what is missing.
set -euo pipefail

# The paths the test uses (edge/tests/support/webdriver.rs), not whatever is first on PATH.
packages=()
[[ -x /usr/bin/chromium ]] || packages+=(chromium)
[[ -x /usr/bin/chromedriver ]] || packages+=(chromium-driver)
command -v docker-compose >/dev/null || packages+=(docker-compose)

if ((${#packages[@]} > 0)); then
  if ((EUID != 0)); then
    sudo=(sudo)
  else
    sudo=()
  fi
  echo "installing: ${packages[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  # With recommends: they bring fonts-liberation, without which screenshots show no text.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
fi

# The chromium wrapper script may print shell noise on stderr; only the version line matters.
/usr/bin/chromium --version 2>/dev/null
/usr/bin/chromedriver --version
docker-compose --version
