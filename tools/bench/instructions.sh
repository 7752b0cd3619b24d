#!/usr/bin/env bash
# tools/bench/instructions.sh: the instructions one worker executes per transaction, counted by
# valgrind's callgrind — the steady measure of a change where CPU time per reply is not (a VM
# without hardware counters, a box shared with PostgreSQL, Apache Kafka and the simulator: CPU
# time per reply varies 5-13 % from run to run there).
#
#   tools/bench/instructions.sh [--worker auth|deposit|reversal|svc] [--requests N]
#                               [--warmup W] [--max-in-flight K] [--sim-latency-ms L]
#                               [--binary PATH] [--keep DIR]
#
#   --worker W          the worker to count (auth)
#   --requests N        the counted requests (2000)
#   --warmup W          requests before the count starts (1000): the worker's connections to
#                       the bureau, PostgreSQL and Kafka are made and warm by then
#   --max-in-flight K   the benchmark's requests in flight (64)
#   --sim-latency-ms L  the simulator's answer delay (100)
#   --binary PATH       the worker's executable to count (default: the environment's, from
#                       PAYLINK_BIN in .dev/env): another build's, to compare two commits
#   --keep DIR          keep callgrind's output files in DIR (for callgrind_annotate or
#                       kcachegrind: where the instructions go)
#
# Against the running `tools/dev up` environment (DEV_DIR chooses another): the worker is
# restarted under callgrind and driven with `tools/dev bench`: W requests, then callgrind's
# counters are zeroed (callgrind_control), then N requests, then the worker is stopped and its
# count divided by N. What does not grow with the load (start-up, connections) stays out; so
# do TLS handshakes of connections made during the count (how many a run opens depends on how
# its calls overlapped) and the work a worker does by the clock rather than per request, which
# is off while it is counted (its resolver's passes, PAYLINK_RESOLVER_INTERVAL_MS=0, and
# librdkafka's statistics, which feed the lag gauge). The worker is started again normally at
# the end, also after a failure. Only user-space instructions count (the kernel's work, system
# calls, is not in them): pair it with the CPU account of `paylinkctl bench`. The last line is
# one JSON object: worker, binary, requests, instructions, instructions_per_tx.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEV_DIR=${DEV_DIR:-$ROOT/.dev}
WORKER=auth N=2000 WARMUP=1000 K=64 LATENCY=100 BINARY='' KEEP=''

PROG=instructions
# shellcheck source=tools/bench/lib.sh
. "$ROOT/tools/bench/lib.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --worker) WORKER=${2:?--worker needs a name} && shift 2 ;;
    --requests) N=${2:-} && whole "$1" "$N" && shift 2 ;;
    --warmup) WARMUP=${2:-} && whole "$1" "$WARMUP" && shift 2 ;;
    --max-in-flight) K=${2:-} && whole "$1" "$K" && shift 2 ;;
    --sim-latency-ms) LATENCY=${2:-} && whole "$1" "$LATENCY" 0 && shift 2 ;;
    --binary) BINARY=${2:?--binary needs a path} && shift 2 ;;
    --keep) KEEP=${2:?--keep needs a directory} && shift 2 ;;
    -h | --help)
        sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
worker_name "$WORKER"
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
    die "valgrind is not installed (apt-get install valgrind)"
[ -s "$DEV_DIR/env" ] || die "no environment in $DEV_DIR: run tools/dev up first"
if [ -z "$BINARY" ]; then
    BINARY=$(. "$DEV_DIR/env" && echo "${PAYLINK_BIN:?}")/paylink-$WORKER
fi
[ -x "$BINARY" ] || die "$BINARY is not an executable"
BINARY=$(realpath "$BINARY")

dev() { "$ROOT/tools/dev" "$@"; }
WRAP=$(mktemp -d)
restore() {
    dev _worker-stop "$DEV_DIR" "$WORKER" >/dev/null 2>&1 || true
    dev _worker-start "$DEV_DIR" "$WORKER" >/dev/null 2>&1 ||
        printf 'instructions: paylink-%s did not start again: tools/dev up\n' "$WORKER" >&2
    rm -rf "$WRAP"
}
trap restore EXIT
# The worker as tools/dev starts it, under callgrind; the real executable is reached through a
# link named paylink-W so that tools/dev recognises the process (and can stop it).
mkdir -p "$WRAP/real"
ln -s "$BINARY" "$WRAP/real/paylink-$WORKER"
printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/cg.%%p %s "$@"\n' \
    "$WRAP" "$WRAP/real/paylink-$WORKER" >"$WRAP/paylink-$WORKER"
chmod +x "$WRAP/paylink-$WORKER"

# count: the worker's instructions over N requests after W, TLS handshakes left out.
count() {
    local line total pid
    rm -f "$WRAP"/cg.*
    dev _worker-stop "$DEV_DIR" "$WORKER" >/dev/null 2>&1
    dev _worker-start "$DEV_DIR" "$WORKER" "PAYLINK_BIN=$WRAP" PAYLINK_RESOLVER_INTERVAL_MS=0 \
        PAYLINK_RDKAFKA_STATISTICS_INTERVAL_MS=0 >/dev/null 2>&1 ||
        die "paylink-$WORKER did not start under valgrind"
    pid=$(<"$DEV_DIR/run/paylink-$WORKER.pid")
    if ((WARMUP > 0)); then
        line=$(dev bench --worker "$WORKER" --requests "$WARMUP" --warmup 0 --max-in-flight "$K" \
            --sim-latency-ms "$LATENCY" 2>/dev/null | tail -n 1) || die "the warm-up failed"
    fi
    callgrind_control --zero "$pid" >/dev/null || die "callgrind_control could not reach $pid"
    line=$(dev bench --worker "$WORKER" --requests "$N" --warmup 0 --max-in-flight "$K" \
        --sim-latency-ms "$LATENCY" 2>/dev/null | tail -n 1) || die "the benchmark of $N requests failed"
    [ "$(jq -r .replies <<<"$line" 2>/dev/null)" = "$N" ] ||
        die "the benchmark of $N requests did not end with every reply: $line"
    # SIGTERM: the worker drains and exits, and callgrind writes its counts on the way out.
    dev _worker-stop "$DEV_DIR" "$WORKER" >/dev/null 2>&1
    compgen -G "$WRAP/cg.*" >/dev/null || die "callgrind wrote no counts (was the worker killed?)"
    total=0
    for f in "$WRAP"/cg.*; do
        callgrind_annotate --inclusive=yes "$f" >"$WRAP/annotated" 2>/dev/null
        t=$(sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$WRAP/annotated" | tr -d ,)
        [[ $t =~ ^[0-9]+$ ]] || die "no totals in $f"
        hs=$(sed -n 's/^ *\([0-9,]*\) .*:SSL_do_handshake \[.*/\1/p' "$WRAP/annotated" | head -n 1 | tr -d ,)
        total=$((total + t - ${hs:-0}))
    done
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP" && cp "$WRAP"/cg.* "$KEEP"/ || die "could not keep the counts in $KEEP"
    fi
    echo "$total"
}

printf 'instructions: paylink-%s (%s) under callgrind, %d requests after %d, K = %d, L = %d ms\n' \
    "$WORKER" "$BINARY" "$N" "$WARMUP" "$K" "$LATENCY" >&2
I=$(count)
jq -cn --arg w "$WORKER" --arg bin "$BINARY" --argjson n "$N" --argjson i "$I" \
    '{worker: $w, binary: $bin, requests: $n, instructions: $i,
      instructions_per_tx: ($i / $n | round)}'
