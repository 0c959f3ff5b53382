#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust: Debian's chromium and chromium-driver, which
# edge/tests/browser.rs drives over WebDriver. Idempotent: installs only what is missing.
set -euo pipefail

# The paths the test uses (edge/tests/support/webdriver.rs), not whatever is first on PATH.
packages=()
[[ -x /usr/bin/chromium ]] || packages+=(chromium)
[[ -x /usr/bin/chromedriver ]] || packages+=(chromium-driver)

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
