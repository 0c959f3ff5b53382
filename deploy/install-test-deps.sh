#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, JDK 17, Maven, Python and Node (which the
# machine has): Debian's newsboat and tmux, a real Google Reader client that
# edge/tests/it/greader/newsboat.rs runs headless and in a terminal; Debian's chromium and
# chromium-driver, which edge/tests/it/browser.rs drives over
# WebDriver, docker-compose, which validates deploy/docker-compose.yml, the real Eureka
# clients registry/tests/it/interop/ and edge/tests/it/interop_eureka.rs drive (py-eureka-client from
# PyPI, eureka-js-client from npm, Netflix's and Spring Cloud's Java clients from Maven Central),
# schemathesis (PyPI) for the OpenAPI tests, and freshrss-api (PyPI), a real Fever client. Cassandra's jars are fetched by deploy/cassandra/run.sh on first start. Idempotent:
# installs only what is missing.
set -euo pipefail

# The paths the test uses (edge/tests/support/webdriver.rs), not whatever is first on PATH.
packages=()
[[ -x /usr/bin/chromium ]] || packages+=(chromium)
[[ -x /usr/bin/chromedriver ]] || packages+=(chromium-driver)
command -v docker-compose >/dev/null || packages+=(docker-compose)
[[ -x /usr/bin/newsboat ]] || packages+=(newsboat)
[[ -x /usr/bin/tmux ]] || packages+=(tmux)

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
/usr/bin/newsboat --version | sed -n 1p
/usr/bin/tmux -V

# The real Eureka clients the interop tests drive (registry/tests/it/interop/, edge/tests/it/interop_eureka.rs):
# py-eureka-client in a virtualenv, eureka-js-client in a node_modules, both pinned and cached
# outside the work tree (where deploy/cassandra/run.sh caches Cassandra), so nothing lands in
# git. The tests look for them exactly there and fail, never skip, when they are missing.
INTEROP_DIR="${RSS_CACHE_DIR:-${HOME:?set HOME or RSS_CACHE_DIR}/.cache/rss-recipe}/interop"
PY_EUREKA_CLIENT=0.13.3
EUREKA_JS_CLIENT=4.5.0
mkdir -p "$INTEROP_DIR"
venv="$INTEROP_DIR/venv"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('py-eureka-client') != '$PY_EUREKA_CLIENT')" 2>/dev/null; then
  echo "installing py-eureka-client $PY_EUREKA_CLIENT into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "py-eureka-client==$PY_EUREKA_CLIENT"
fi
"$venv/bin/python" -c "import py_eureka_client.eureka_client; print('py-eureka-client', '$PY_EUREKA_CLIENT')"
node_dir="$INTEROP_DIR/node"
if ! node -e "process.exit(require('$node_dir/node_modules/eureka-js-client/package.json').version === '$EUREKA_JS_CLIENT' ? 0 : 1)" 2>/dev/null; then
  echo "installing eureka-js-client $EUREKA_JS_CLIENT into $node_dir"
  mkdir -p "$node_dir"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" "eureka-js-client@$EUREKA_JS_CLIENT"
fi
node -e "require('$node_dir/node_modules/eureka-js-client'); console.log('eureka-js-client', '$EUREKA_JS_CLIENT')"

# The Java clients (registry/tests/it/interop/java/): Netflix's eureka-client 2.0.4 with its
# Jersey 3 transport, and Spring Cloud Netflix 4.3.0 in a Spring Boot 3.5 app, pinned in their
# pom.xml files. Maven builds a copy of the sources here; each program ends up as
# $java_dir/<module>/target/lib/*.jar, which the tests run with plain `java`, no Maven and no
# network. Rebuilt when the sources change (a hash of them is kept beside the build).
java_src="$(cd "$(dirname "$0")/.." && pwd)/registry/tests/it/interop/java"
java_dir="$INTEROP_DIR/java"
java_hash="$(cd "$java_src" && find . -type f -not -path '*/target/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$java_dir/sources.sha256" 2>/dev/null)" != "$java_hash" ]]; then
  echo "building the Java Eureka clients into $java_dir"
  rm -rf "$java_dir"
  mkdir -p "$java_dir"
  (cd "$java_src" && find . -type f -not -path '*/target/*' -exec cp --parents {} "$java_dir" \;)
  mvn -q -B -f "$java_dir/pom.xml" package
  echo "$java_hash" >"$java_dir/sources.sha256"
fi
for module in netflix-client spring-client; do
  ls "$java_dir/$module/target/lib/$module-1.jar" >/dev/null
done
echo "Java Eureka clients: eureka-client 2.0.4 (Jersey 3), Spring Cloud Netflix 4.3.0"

# schemathesis, which fuzzes the registry's and the middle tier's OpenAPI documents against the
# running services (registry/tests/it/openapi.rs, middletier/tests/it/openapi.rs): pinned, in its own
# virtualenv next to the interop clients. The tests run exactly this one and fail, never skip,
# when it is missing.
SCHEMATHESIS=4.32.5
st_venv="${RSS_CACHE_DIR:-$HOME/.cache/rss-recipe}/schemathesis/venv"
if ! "$st_venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$SCHEMATHESIS')" 2>/dev/null; then
  echo "installing schemathesis $SCHEMATHESIS into $st_venv"
  python3 -m venv "$st_venv"
  "$st_venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS"
fi
"$st_venv/bin/schemathesis" --version

# freshrss-api, the real Fever client edge/tests/it/fever/client.rs drives: pinned, in its own
# virtualenv beside the others. 2.0.5 imports loguru without declaring it, so loguru is pinned
# here too. The test runs exactly this one and fails, never skips, when it is missing.
FRESHRSS_API=2.0.5
LOGURU=0.7.3
fr_venv="${RSS_CACHE_DIR:-$HOME/.cache/rss-recipe}/freshrss-api/venv"
if ! "$fr_venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('freshrss-api') != '$FRESHRSS_API' or m.version('loguru') != '$LOGURU')" 2>/dev/null; then
  echo "installing freshrss-api $FRESHRSS_API into $fr_venv"
  python3 -m venv "$fr_venv"
  "$fr_venv/bin/python" -m pip install --quiet --disable-pip-version-check "freshrss-api==$FRESHRSS_API" "loguru==$LOGURU"
fi
"$fr_venv/bin/python" -c "import freshrss_api; print('freshrss-api', freshrss_api.FreshRSSAPI.VERSION)"
