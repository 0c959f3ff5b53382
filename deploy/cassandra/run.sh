#!/usr/bin/env bash
# A real single-node Apache Cassandra for development and tests, without Docker.
#
#   run.sh start          install on first use (jars from Maven Central), start, wait until CQL answers
#   run.sh stop [--wipe]  stop the node; --wipe (or CASSANDRA_WIPE=1) also deletes its data
#   run.sh kill           SIGKILL the node (crash simulation for durability tests)
#   run.sh status         exit 0: running and answering CQL, 1: process up but CQL not answering, 3: not running
#
# See README.md beside this file for the environment variables.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

CASSANDRA_VERSION="${CASSANDRA_VERSION:-5.0.7}"
CACHE_ROOT="${RSS_CACHE_DIR:-${HOME:?set HOME or RSS_CACHE_DIR}/.cache/rss-recipe}"
INSTALL_DIR="$CACHE_ROOT/cassandra-$CASSANDRA_VERSION"
LIB_DIR="$INSTALL_DIR/lib"
DATA_DIR="${CASSANDRA_DATA_DIR:-$INSTALL_DIR/node}"
NATIVE_PORT="${CASSANDRA_PORT:-9042}"
STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-7000}"
HEAP="${CASSANDRA_HEAP:-768M}"
# The JVM keeps every committed heap page resident, so a small initial heap keeps an idle test
# node's RSS low (about 0.7 GiB instead of 1.2 GiB); the heap still grows to CASSANDRA_HEAP.
HEAP_MIN="${CASSANDRA_HEAP_MIN:-256M}"
START_TIMEOUT="${CASSANDRA_START_TIMEOUT:-180}"
STOP_TIMEOUT="${CASSANDRA_STOP_TIMEOUT:-60}"
CLUSTER_NAME="${CASSANDRA_CLUSTER_NAME:-rss-recipe-test}"

CONF_DIR="$DATA_DIR/conf"
PID_FILE="$DATA_DIR/cassandra.pid"
LOG_FILE="$DATA_DIR/cassandra.log"

say() { printf 'cassandra: %s\n' "$*"; }
die() { printf 'cassandra: error: %s\n' "$*" >&2; exit 1; }

# Serialise start/stop/status on one data dir, so two test runs can't start two nodes on it.
lock() {
    mkdir -p "$DATA_DIR"
    if command -v flock >/dev/null; then
        exec 9>"$DATA_DIR/.lock"
        flock 9
    fi
}

# PID of the node that owns $DATA_DIR, or nothing. A process counts only if its command line
# carries this data dir, so a stale pid file whose PID was reused never gets signalled; if the
# pid file is gone, the node is found by that same marker.
node_pid() {
    local pid candidate
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && owns_data_dir "$pid"; then
        echo "$pid"
        return 0
    fi
    for candidate in /proc/[0-9]*; do
        candidate="${candidate#/proc/}"
        if owns_data_dir "$candidate"; then
            echo "$candidate" >"$PID_FILE"
            echo "$candidate"
            return 0
        fi
    done
}

owns_data_dir() {
    tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" \
        | grep -qF -- "-Dcassandra.storagedir=$DATA_DIR org.apache.cassandra.service.CassandraDaemon"
}

cql_answers() {
    python3 "$HERE/cql_ping.py" --port "$NATIVE_PORT" --timeout "${1:-5}" 2>/dev/null
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

install_jars() {
    [[ -f "$LIB_DIR/.complete" ]] && return 0
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    say "installing Apache Cassandra $CASSANDRA_VERSION jars from Maven Central into $LIB_DIR"
    # A private staging dir, moved into place only when complete: an interrupted or concurrent
    # install never leaves a half-filled lib/ behind.
    local staging="$INSTALL_DIR/lib.partial.$$" mvn_log="$INSTALL_DIR/mvn.log"
    mkdir -p "$staging" "$INSTALL_DIR/pom"
    # Maven runs in the cache dir, not the work tree, so nothing it writes lands in git.
    cp "$HERE/pom.xml" "$INSTALL_DIR/pom/pom.xml"
    if ! (cd "$INSTALL_DIR/pom" && mvn -q -B -Dstyle.color=never -Dcassandra.version="$CASSANDRA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$staging") >"$mvn_log" 2>&1; then
        tail -n 20 "$mvn_log" >&2
        rm -rf "$staging"
        die "downloading cassandra-all $CASSANDRA_VERSION failed (log: $mvn_log)"
    fi
    touch "$staging/.complete"
    if [[ -f "$LIB_DIR/.complete" ]]; then
        rm -rf "$staging"  # another run finished first
    else
        rm -rf "$LIB_DIR"
        mv "$staging" "$LIB_DIR"
    fi
    say "installed $(find "$LIB_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIB_DIR" | cut -f1))"
}

write_config() {
    mkdir -p "$CONF_DIR" "$DATA_DIR"/{data,commitlog,saved_caches,hints,cdc_raw}
    sed -e "s|@CLUSTER_NAME@|$CLUSTER_NAME|g" \
        -e "s|@DATA_DIR@|$DATA_DIR|g" \
        -e "s|@NATIVE_PORT@|$NATIVE_PORT|g" \
        -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" \
        "$HERE/cassandra.yaml.in" >"$CONF_DIR/cassandra.yaml"
    cp "$HERE/logback.xml" "$CONF_DIR/logback.xml"
}

java_args() {
    local jamm
    jamm="$(find "$LIB_DIR" -name 'jamm-*.jar' | head -n 1)"
    [[ -n "$jamm" ]] || die "jamm jar missing from $LIB_DIR (delete it to reinstall)"
    # JDK 17 flags follow apache/cassandra conf/jvm17-server.options; system properties follow
    # conf/cassandra-env.sh, plus the ones that make a single test node start and stop fast:
    # no gossip settling, ring delay or shutdown announcement (there is no one to gossip with).
    # Never -Dcassandra.unsafesystem: it keeps schema changes out of the commit log, so after a
    # kill -9 the tables come back with new ids and acknowledged rows are dropped on replay.
    # JMX stays off (no cassandra.jmx.*.port): no nodetool, port 7199 stays free.
    args=(
        -Xms"$HEAP_MIN" -Xmx"$HEAP" -Xss256k
        -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
        -XX:G1HeapRegionSize=16m -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300
        -XX:InitiatingHeapOccupancyPercent=70
        -XX:+PerfDisableSharedMem -XX:+ExitOnOutOfMemoryError
        -XX:ErrorFile="$DATA_DIR/hs_err_%p.log"
        -javaagent:"$jamm"
        -Djdk.attach.allowAttachSelf=true
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
        --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
        --add-exports java.sql/java.sql=ALL-UNNAMED
        --add-exports java.base/java.lang.ref=ALL-UNNAMED
        --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
        --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
        --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
        --add-opens java.base/java.lang.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
        --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
        --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
        --add-opens java.base/jdk.internal.math=ALL-UNNAMED
        --add-opens java.base/jdk.internal.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
        --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED
        --add-opens java.base/java.io=ALL-UNNAMED
        --add-opens java.base/java.lang.reflect=ALL-UNNAMED
        --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
        --add-opens java.base/java.lang=ALL-UNNAMED
        --add-opens java.base/java.util=ALL-UNNAMED
        --add-opens java.base/java.nio=ALL-UNNAMED
        -Dio.netty.tryReflectionSetAccessible=true
        -Dio.netty.allocator.useCacheForAllThreads=true
        -Dio.netty.allocator.maxOrder=11
        -Djava.net.preferIPv4Stack=true
        -Dcassandra.config="file://$CONF_DIR/cassandra.yaml"
        -Dlogback.configurationFile="$CONF_DIR/logback.xml"
        -Dcassandra.log.level="${CASSANDRA_LOG_LEVEL:-INFO}"
        -Dcassandra.logdir="$DATA_DIR"
        -Dcassandra-foreground=yes
        -Dcassandra.skip_wait_for_gossip_to_settle=0
        -Dcassandra.ring_delay_ms=100
        -Dcassandra.shutdown_announce_in_ms=0
    )
    # Extra flags, word-split on purpose (e.g. CASSANDRA_JVM_OPTS="-XX:TieredStopAtLevel=1").
    # shellcheck disable=SC2206
    args+=(${CASSANDRA_JVM_OPTS:-})
    # Last, next to the main class: node_pid() recognises the node by this pair.
    args+=(-cp "$LIB_DIR/*" -Dcassandra.storagedir="$DATA_DIR" org.apache.cassandra.service.CassandraDaemon)
}

log_tail() {
    [[ -f "$LOG_FILE" ]] || return 0
    echo "---- last 40 lines of $LOG_FILE ----" >&2
    tail -n 40 "$LOG_FILE" >&2
    echo "----" >&2
}

cmd_start() {
    lock
    local pid started
    pid="$(node_pid)"
    if [[ -n "$pid" ]] && cql_answers >/dev/null; then
        say "already running (pid $pid), CQL on 127.0.0.1:$NATIVE_PORT"
        return 0
    fi
    if [[ -z "$pid" ]]; then
        rm -f "$PID_FILE"
        port_open "$NATIVE_PORT" && die "port $NATIVE_PORT is already in use by another process (set CASSANDRA_PORT)"
        port_open "$STORAGE_PORT" && die "port $STORAGE_PORT is already in use by another process (set CASSANDRA_STORAGE_PORT)"
        command -v java >/dev/null || die "java not found (JDK 17 needed)"
        install_jars
        write_config
        local args
        java_args
        say "starting Cassandra $CASSANDRA_VERSION (heap $HEAP, CQL port $NATIVE_PORT, data $DATA_DIR)"
        echo "==== $(date -u +%FT%TZ) start" >>"$LOG_FILE"
        # Own session, so the node outlives this script and a Ctrl-C aimed at a test run.
        # The inner shell records its PID and then becomes java.
        # shellcheck disable=SC2016  # $$ and $@ are for the inner shell
        setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" java "${args[@]}" \
            </dev/null >>"$LOG_FILE" 2>&1 9>&- &
        local waited=0
        while [[ ! -s "$PID_FILE" && $waited -lt 50 ]]; do sleep 0.1; waited=$((waited + 1)); done
        pid="$(cat "$PID_FILE" 2>/dev/null || true)"
        [[ -n "$pid" ]] || die "java did not start"
    else
        say "process $pid is up but CQL does not answer yet; waiting"
    fi

    started=$SECONDS
    local deadline=$((SECONDS + START_TIMEOUT)) announced_port=""
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            log_tail
            die "Cassandra exited during start-up (log: $LOG_FILE)"
        fi
        if port_open "$NATIVE_PORT"; then
            if [[ -z "$announced_port" ]]; then
                say "native port $NATIVE_PORT open after $((SECONDS - started))s; waiting for CQL"
                announced_port=1
            fi
            local version
            if version="$(cql_answers 5)"; then
                say "ready: Cassandra $version answers CQL on 127.0.0.1:$NATIVE_PORT (pid $pid, $((SECONDS - started))s)"
                return 0
            fi
        fi
        sleep 1
    done
    log_tail
    die "CQL did not answer on port $NATIVE_PORT within ${START_TIMEOUT}s (node left running as pid $pid; run.sh stop)"
}

cmd_stop() {
    local wipe="${CASSANDRA_WIPE:-0}"
    for arg in "$@"; do
        case "$arg" in
            --wipe) wipe=1 ;;
            *) die "unknown option for stop: $arg" ;;
        esac
    done
    lock
    local pid
    pid="$(node_pid)"
    if [[ -n "$pid" ]]; then
        say "stopping pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + STOP_TIMEOUT))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            say "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        fi
        say "stopped"
    else
        say "not running"
    fi
    rm -f "$PID_FILE"
    if [[ "$wipe" == 1 ]]; then
        # Only what this script creates: CASSANDRA_DATA_DIR may be a directory the caller owns.
        rm -rf "$DATA_DIR"/{data,commitlog,saved_caches,hints,cdc_raw,conf} "$LOG_FILE" "$DATA_DIR"/hs_err_*.log
        say "wiped data in $DATA_DIR"
    fi
}

# Crash simulation for durability tests: SIGKILL, no flush, no clean shutdown.
cmd_kill() {
    lock
    local pid
    pid="$(node_pid)"
    if [[ -z "$pid" ]]; then
        say "not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$PID_FILE"
    say "killed pid $pid (SIGKILL)"
}

cmd_status() {
    local pid version
    pid="$(node_pid)"
    if [[ -z "$pid" ]]; then
        say "not running"
        exit 3
    fi
    if version="$(cql_answers)"; then
        say "running (pid $pid), Cassandra $version answers CQL on 127.0.0.1:$NATIVE_PORT"
        exit 0
    fi
    say "process up (pid $pid) but CQL does not answer on 127.0.0.1:$NATIVE_PORT"
    exit 1
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    kill) shift; cmd_kill "$@" ;;
    *) echo "usage: $0 start|stop [--wipe]|kill|status" >&2; exit 2 ;;
esac
