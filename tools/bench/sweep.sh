#!/usr/bin/env bash
# tools/bench/sweep.sh: `paylinkctl bench` at max_in_flight K = 1, 2, 4, ... up to 4096 (closed
# loop) against the running `tools/dev up` environment, each point's last line (one JSON object)
# appended to a file that tools/bench/plot.sh draws.
#
#   tools/bench/sweep.sh [--out FILE] [--worker auth|deposit|reversal|svc] [--requests N]
#                        [--per-k P] [--max-k K] [--sim-latency-ms L] [-- BENCH OPTIONS...]
#
#   --out FILE          where the JSON lines go (appended; default bench-sweep.jsonl)
#   --worker W          the worker to measure (auth)
#   --requests N        requests per point at most (2000)
#   --per-k P           requests per point are min(N, K x P) (100): at K = 1 a sequential job
#                       waits for each reply, so 100 requests at 100 ms already take ~12 s
#   --max-k K           the last K (4096; a power of two)
#   --sim-latency-ms L  the simulator's answer delay (100)
#   -- OPTIONS          passed to every paylinkctl bench as they are (e.g. --replicas 2)
#
# Each point runs through `tools/dev bench` (the environment's variables; DEV_DIR and
# PAYLINK_DEV_BUILD_DIR choose another environment and build, as for tools/dev). A point whose
# run did not get every reply is kept in the file and reported; the exit status is then 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=bench-sweep.jsonl WORKER=auth REQUESTS=2000 PER_K=100 MAX_K=4096 LATENCY=100
EXTRA=()

PROG=sweep
# shellcheck source=tools/bench/lib.sh
. "$ROOT/tools/bench/lib.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --out) OUT=${2:?--out needs a file} && shift 2 ;;
    --worker) WORKER=${2:?--worker needs a name} && shift 2 ;;
    --requests) REQUESTS=${2:-} && whole "$1" "$REQUESTS" && shift 2 ;;
    --per-k) PER_K=${2:-} && whole "$1" "$PER_K" && shift 2 ;;
    --max-k) MAX_K=${2:-} && whole "$1" "$MAX_K" && shift 2 ;;
    --sim-latency-ms) LATENCY=${2:-} && whole "$1" "$LATENCY" 0 && shift 2 ;;
    --)
        shift
        EXTRA=("$@")
        break
        ;;
    -h | --help)
        sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
worker_name "$WORKER"

failed=0 k=1
while ((k <= MAX_K)); do
    n=$((k * PER_K < REQUESTS ? k * PER_K : REQUESTS))
    printf 'sweep: K = %d, %d requests\n' "$k" "$n" >&2
    rc=0
    line=$("$ROOT/tools/dev" bench --worker "$WORKER" --requests "$n" --max-in-flight "$k" \
        --sim-latency-ms "$LATENCY" "${EXTRA[@]}" | tail -n 1) || rc=$?
    if jq -e 'type == "object"' >/dev/null 2>&1 <<<"$line"; then
        printf '%s\n' "$line" >>"$OUT"
        printf 'sweep: K = %d: %s replies/s, p99 %s ms\n' "$k" \
            "$(jq -r .throughput <<<"$line")" "$(jq -r .p99_ms <<<"$line")" >&2
    else
        printf 'sweep: K = %d printed no JSON line (status %d)\n' "$k" "$rc" >&2
    fi
    if [ "$rc" != 0 ]; then
        printf 'sweep: K = %d did not get every reply (status %d)\n' "$k" "$rc" >&2
        failed=1
    fi
    k=$((k * 2))
done
printf 'sweep: results appended to %s (draw them: tools/bench/plot.sh %s)\n' "$OUT" "$OUT" >&2
exit "$failed"
