#!/usr/bin/env bash
# tools/bench/ab.sh: one worker's executable from two builds, measured in turns against the
# running `tools/dev up` environment: the worker is restarted from build A, `paylinkctl bench`
# runs, then from build B, and so on for R rounds, so that both meet the same database, broker
# and box (autovacuum, a checkpoint, the broker's JIT fall on both alike). The order turns
# every round (A B, B A, A B, ...): on a shared box the second run of a pair has an edge (warmer
# caches and JIT, the first run's autovacuum done), which would otherwise always go to B. Each
# run's last line (one JSON object) goes into a file, wrapped with its side and round.
#
#   tools/bench/ab.sh --a DIR --b DIR [--out FILE] [--worker auth|deposit|reversal|svc]
#                     [--type auth|deposit] [--rounds R] [--requests N] [--warmup W]
#                     [--max-in-flight K] [--sim-latency-ms L]
#
#   --a DIR, --b DIR    the two build directories (each holding paylink-<worker>), say the
#                       build of a worktree of main and this checkout's build
#   --out FILE          where the lines go (appended; default bench-ab.jsonl): {"side": "a" or
#                       "b", "round": r, "bench": <paylinkctl bench's JSON>}
#   --worker W          the worker to measure (auth)
#   --type T            svc only: the stored value requests measured, auth (default) or deposit
#   --rounds R          rounds, A then B in odd ones, B then A in even ones (3)
#   --requests N        requests per run (20000)
#   --warmup W          requests per run before the measured ones (2000)
#   --max-in-flight K   the benchmark's requests in flight (512)
#   --sim-latency-ms L  the simulator's answer delay (100)
#
# The worker is started from this checkout's build again at the end, also after a failure. A
# run that did not get every reply is kept in the file and reported; the exit status is then 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEV_DIR=${DEV_DIR:-$ROOT/.dev}
A='' B='' OUT=bench-ab.jsonl WORKER=auth ROUNDS=3 REQUESTS=20000 WARMUP=2000 K=512 LATENCY=100
TYPE=()

PROG=ab
# shellcheck source=tools/bench/lib.sh
. "$ROOT/tools/bench/lib.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --a) A=${2:?--a needs a build directory} && shift 2 ;;
    --b) B=${2:?--b needs a build directory} && shift 2 ;;
    --out) OUT=${2:?--out needs a file} && shift 2 ;;
    --worker) WORKER=${2:?--worker needs a name} && shift 2 ;;
    --type) TYPE=(--type "${2:?--type needs auth or deposit}") && shift 2 ;;
    --rounds) ROUNDS=${2:-} && whole "$1" "$ROUNDS" && shift 2 ;;
    --requests) REQUESTS=${2:-} && whole "$1" "$REQUESTS" && shift 2 ;;
    --warmup) WARMUP=${2:-} && whole "$1" "$WARMUP" 0 && shift 2 ;;
    --max-in-flight) K=${2:-} && whole "$1" "$K" && shift 2 ;;
    --sim-latency-ms) LATENCY=${2:-} && whole "$1" "$LATENCY" 0 && shift 2 ;;
    -h | --help)
        sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
worker_name "$WORKER"
[ -n "$A" ] && [ -n "$B" ] || die "--a and --b are required (see --help)"
for d in "$A" "$B"; do
    [ -x "$d/paylink-$WORKER" ] || die "$d/paylink-$WORKER is not built"
done
[ -s "$DEV_DIR/env" ] || die "no environment in $DEV_DIR (tools/dev up starts one)"

restart() {
    "$ROOT/tools/dev" _worker-stop "$DEV_DIR" "$WORKER" >/dev/null 2>&1 || true
    "$ROOT/tools/dev" _worker-start "$DEV_DIR" "$WORKER" "$@" >/dev/null
}
trap 'restart' EXIT

failed=0
for ((r = 1; r <= ROUNDS; r++)); do
    sides='a b'
    ((r % 2 == 0)) && sides='b a'
    for side in $sides; do
        dir=$A
        [ "$side" = b ] && dir=$B
        restart "PAYLINK_BIN=$(cd "$dir" && pwd)"
        rc=0
        line=$("$ROOT/tools/dev" bench --worker "$WORKER" "${TYPE[@]}" --requests "$REQUESTS" \
            --warmup "$WARMUP" --max-in-flight "$K" --sim-latency-ms "$LATENCY" | tail -n 1) ||
            rc=$?
        if ! jq -e 'type == "object"' >/dev/null 2>&1 <<<"$line"; then
            die "round $r, side $side: no JSON line from the benchmark (exit status $rc)"
        fi
        jq -c --arg side "$side" --argjson round "$r" '{side: $side, round: $round, bench: .}' \
            <<<"$line" >>"$OUT"
        jq -r --arg side "$side" --argjson round "$r" \
            '"ab: round \($round) \($side): \(.throughput) /s, p99 \(.p99_ms) ms, worker \(.worker_cpu_us_per_tx) us, PostgreSQL \(.db_cpu_us_per_tx) us a reply"' \
            <<<"$line" >&2
        if [ "$rc" != 0 ] || [ "$(jq -r '.replies == .requests' <<<"$line")" != true ]; then
            printf 'ab: round %d, side %s did not get every reply\n' "$r" "$side" >&2
            failed=1
        fi
    done
done
exit "$failed"
