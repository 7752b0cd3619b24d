#!/usr/bin/env bash
# tools/bench/series.sh: the README's measuring series ("Performance (issue 12)") against one
# environment, each run's last line (one JSON object) appended to a file with the side it
# measures and its step, for tools/bench/table.sh. In order:
#
#   warm        auth, W requests: a fresh broker's JIT and the new tables (not compared)
#   auth        auth, N requests, with the sequential baseline (K = 1, M requests): speed-up
#   deposit     deposit, E requests (its authorizations first, through paylink-auth: setup)
#   reversal    reversal, E requests (likewise)
#   svc         svc, E requests
#   auth-e      auth, E requests (beside the three above, the same hour)
#
#   tools/bench/series.sh [--side NAME] [--out FILE] [--warm W] [--requests N] [--each E]
#                         [--baseline-requests M] [--max-in-flight K] [--sim-latency-ms L]
#
#   --side NAME          what the lines say they measure (after): "before", a commit, ...
#   --out FILE           where the lines go (appended; default bench-series.jsonl):
#                        {"side": NAME, "step": STEP, "bench": <paylinkctl bench's JSON>}
#   --warm W             the warm-up run's requests (100000; 0: none)
#   --requests N         the auth run's requests (100000)
#   --each E             each of the other runs' requests (20000)
#   --baseline-requests M  the sequential phase's requests (200)
#   --max-in-flight K    requests outstanding (512)
#   --sim-latency-ms L   the simulator's answer delay (100)
#
# Every run goes through `tools/dev bench`: this checkout's paylinkctl, the environment DEV_DIR
# names (default this checkout's .dev), so one checkout's benchmark measures another's
# environment alike (tools/bench/compare.sh). A run that did not get every reply, or whose
# replies were not all approved (every request of the series is one the simulator approves: a
# decline or an error means something else answered or failed — a second worker in the consumer
# group, a simulator it cannot trust), is kept in the file and reported; the exit status is then 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIDE=after OUT=bench-series.jsonl WARM=100000 REQUESTS=100000 EACH=20000 BASELINE=200 K=512
LATENCY=100

PROG=series
# shellcheck source=tools/bench/lib.sh
. "$ROOT/tools/bench/lib.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --side) SIDE=${2:?--side needs a name} && shift 2 ;;
    --out) OUT=${2:?--out needs a file} && shift 2 ;;
    --warm) WARM=${2:-} && whole "$1" "$WARM" 0 && shift 2 ;;
    --requests) REQUESTS=${2:-} && whole "$1" "$REQUESTS" && shift 2 ;;
    --each) EACH=${2:-} && whole "$1" "$EACH" && shift 2 ;;
    --baseline-requests) BASELINE=${2:-} && whole "$1" "$BASELINE" && shift 2 ;;
    --max-in-flight) K=${2:-} && whole "$1" "$K" && shift 2 ;;
    --sim-latency-ms) LATENCY=${2:-} && whole "$1" "$LATENCY" 0 && shift 2 ;;
    -h | --help)
        sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
env_dir=${DEV_DIR:-$ROOT/.dev}
[ -s "$env_dir/env" ] || die "no environment in $env_dir (tools/dev up starts one)"

failed=0
# run STEP WORKER REQUESTS [BENCH OPTIONS...]
run() {
    local step=$1 worker=$2 n=$3 line rc=0
    shift 3
    printf 'series: %s: %s, %d requests\n' "$SIDE" "$step" "$n" >&2
    line=$("$ROOT/tools/dev" bench --worker "$worker" --requests "$n" --max-in-flight "$K" \
        --sim-latency-ms "$LATENCY" "$@" | tail -n 1) || rc=$?
    if jq -e 'type == "object"' >/dev/null 2>&1 <<<"$line"; then
        jq -c --arg side "$SIDE" --arg step "$step" '{side: $side, step: $step, bench: .}' \
            <<<"$line" >>"$OUT"
        printf 'series: %s: %s: %s replies/s, p99 %s ms, worker %s µs, PostgreSQL %s µs a reply\n' \
            "$SIDE" "$step" "$(jq -r .throughput <<<"$line")" "$(jq -r .p99_ms <<<"$line")" \
            "$(jq -r .worker_cpu_us_per_tx <<<"$line")" "$(jq -r .db_cpu_us_per_tx <<<"$line")" >&2
        if ! jq -e '.approved == .replies' >/dev/null <<<"$line"; then
            printf 'series: %s: %s: %s of %s replies approved: the run does not count (its worker log; another worker in the group?)\n' \
                "$SIDE" "$step" "$(jq -r .approved <<<"$line")" "$(jq -r .replies <<<"$line")" >&2
            failed=1
        fi
    else
        printf 'series: %s: %s printed no JSON line (status %d)\n' "$SIDE" "$step" "$rc" >&2
    fi
    if [ "$rc" != 0 ]; then
        printf 'series: %s: %s did not get every reply (status %d)\n' "$SIDE" "$step" "$rc" >&2
        failed=1
    fi
}

((WARM == 0)) || run warm auth "$WARM"
run auth auth "$REQUESTS" --baseline --baseline-requests "$BASELINE"
for w in deposit reversal svc; do run "$w" "$w" "$EACH"; done
run auth-e auth "$EACH"
printf 'series: %s: appended to %s (tools/bench/table.sh %s)\n' "$SIDE" "$OUT" "$OUT" >&2
exit "$failed"
