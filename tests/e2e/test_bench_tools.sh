#!/usr/bin/env bash
# The README's measuring scripts at a tiny size against the running environment:
# tools/bench/ab.sh (one worker's executable from two builds, measured in turns) and
# tools/bench/instructions.sh (the worker's instructions per transaction under callgrind). Each
# must leave its lines as documented, say so when a run cannot be made, and leave the worker
# running as tools/dev started it, answering. No figure is asserted beyond its shape and sign:
# the numbers of a loaded CI machine mean nothing here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pl_on_exit "pl_sim_latency 0"
tmp=$(mktemp -d)
pl_on_exit "rm -rf '$tmp'"
export DEV_DIR=$PAYLINK_DEV_DIR
# The uninstrumented build (callgrind cannot count a sanitized one): tools/dev's own.
plain=${PAYLINK_DEV_BUILD_DIR:-$PL_ROOT/build}

# worker_as_started WHAT: paylink-auth runs from the environment's executable and answers.
worker_as_started() {
    local pid exe id reply
    pid=$(pl_worker_pid auth) || fail "$1: paylink-auth is not running"
    exe=$(readlink -f "/proc/$pid/exe")
    assert_eq "$exe" "$(readlink -f "$PAYLINK_BIN/paylink-auth")" "$1: the worker's executable"
    id=bt-$(pl_uid)
    pl_send auth "$(pl_request auth "$id" 12.00)"
    reply=$(pl_wait_reply auth "$id" 60) || fail "$1: no reply from the restarted worker"
    assert_json .status approved "$reply"
    pass "$1: the worker runs as tools/dev started it and answers"
}

# ---- ab.sh ---------------------------------------------------------------------------------------
out=$tmp/ab.jsonl
# B: a copy of the uninstrumented worker, so that whichever build the environment runs, the
# worker left running at the end is seen to be the environment's.
mkdir -p "$tmp/b"
cp "$plain/paylink-auth" "$tmp/b/"
rc=0
"$PL_ROOT/tools/bench/ab.sh" --a "$PAYLINK_BIN" --b "$tmp/b" --worker auth --rounds 2 \
    --requests 10 --warmup 2 --max-in-flight 4 --sim-latency-ms 0 --out "$out" \
    2>"$tmp/ab.err" || rc=$?
if [ "$rc" != 0 ]; then
    tail -n 20 "$tmp/ab.err" >&2
    fail "ab.sh exited with status $rc"
fi
assert_eq "$(wc -l <"$out")" 4 "ab.sh: one line per side and round"
assert_eq "$(jq -sc 'map([.side, .round])' "$out")" '[["a",1],["b",1],["b",2],["a",2]]' \
    "ab.sh: sides and rounds, the order turned every round"
assert_eq "$(jq -s 'map(.bench.replies == 10 and .bench.approved == 10 and
    .bench.worker == "auth" and (.bench.worker_cpu_us_per_tx | type) == "number") | all' "$out")" \
    true "ab.sh: each line holds the benchmark's JSON, every reply approved"
assert_contains "$(<"$tmp/ab.err")" "ab: round 1 b:" "ab.sh: a summary line per run"
worker_as_started "ab.sh"

# A build without the worker is refused before anything is restarted or written.
rc=0
"$PL_ROOT/tools/bench/ab.sh" --a "$PAYLINK_BIN" --b "$tmp/nowhere" --out "$tmp/none.jsonl" \
    2>"$tmp/ab2.err" || rc=$?
assert_ne "$rc" 0 "ab.sh with a build that has no worker: exit status"
assert_contains "$(<"$tmp/ab2.err")" "is not built" "ab.sh: why"
[ ! -e "$tmp/none.jsonl" ] || fail "ab.sh wrote lines although it refused"
pass "ab.sh refuses a build without the worker"

# ---- instructions.sh -----------------------------------------------------------------------------
rc=0
"$PL_ROOT/tools/bench/instructions.sh" --worker auth --binary "$plain/paylink-auth" \
    --requests 10 --warmup 3 --max-in-flight 2 --sim-latency-ms 0 >"$tmp/ins.out" \
    2>"$tmp/ins.err" || rc=$?
if [ "$rc" != 0 ]; then
    tail -n 20 "$tmp/ins.err" >&2
    fail "instructions.sh exited with status $rc"
fi
line=$(tail -n 1 "$tmp/ins.out")
assert_json .worker auth "$line"
assert_json .requests 10 "$line"
assert_eq "$(jq -r .binary <<<"$line")" "$(readlink -f "$plain/paylink-auth")" "instructions.sh: binary"
# A count, and its quotient: a request is tens of thousands of instructions at the very least.
jq -e '(.instructions | type) == "number" and .instructions_per_tx > 10000 and
    .instructions_per_tx == (.instructions / .requests | round)' >/dev/null <<<"$line" ||
    fail "instructions.sh: the count in $line"
pass "instructions.sh: the count of 10 requests and its quotient"
worker_as_started "instructions.sh"

# ---- series.sh and table.sh ----------------------------------------------------------------------
# The README's series at a tiny size (compare.sh runs it on each side's fresh environment; here
# the test environment serves): one line per step, the side and step named, each the
# benchmark's JSON with every reply approved and the auth step's speed-up.
out=$tmp/series.jsonl
rc=0
"$PL_ROOT/tools/bench/series.sh" --side after --out "$out" --warm 2 --requests 6 --each 4 \
    --baseline-requests 2 --max-in-flight 4 --sim-latency-ms 0 2>"$tmp/series.err" || rc=$?
if [ "$rc" != 0 ]; then
    tail -n 20 "$tmp/series.err" >&2
    fail "series.sh exited with status $rc"
fi
assert_eq "$(jq -sc 'map([.side, .step, .bench.worker, .bench.replies])' "$out")" \
    '[["after","warm","auth",2],["after","auth","auth",6],["after","deposit","deposit",4],["after","reversal","reversal",4],["after","svc","svc",4],["after","auth-e","auth",4]]' \
    "series.sh: its steps in order, each with its worker and size"
assert_eq "$(jq -s 'map(.bench.approved == .bench.replies) | all' "$out")" true \
    "series.sh: every reply approved"
jq -se '.[1].bench.speedup > 0 and .[1].bench.baseline_throughput > 0' "$out" >/dev/null ||
    fail "series.sh: the auth step has no sequential baseline"
pass "series.sh: the series, one line a step"

# The table of two sides (the same lines as "before" here): one row a step measured on both,
# the warm-up left out, each figure "before → after (ratio)", the baseline and speed-up line.
jq -c '.side = "before"' "$out" >>"$out"
table=$("$PL_ROOT/tools/bench/table.sh" "$out") || fail "table.sh failed"
assert_eq "$(grep -c '^|' <<<"$table")" 7 "table.sh: header, rule and five steps"
assert_eq "$(grep -o '^| [a-z-]* |' <<<"$table" | tr -d '| ' | tr '\n' ' ')" \
    "step auth deposit reversal svc auth-e " "table.sh: the steps in the series' order"
assert_contains "$(grep '^| auth |' <<<"$table")" "(1×)" "table.sh: a ratio of the same run is 1"
assert_contains "$table" "Sequential baseline (K = 1):" "table.sh: the baseline line"
rc=0
jq -c 'select(.side == "after")' "$out" >"$tmp/one-side.jsonl"
"$PL_ROOT/tools/bench/table.sh" "$tmp/one-side.jsonl" >/dev/null 2>"$tmp/table.err" || rc=$?
assert_eq "$rc" 2 "table.sh with one side only: exit status"
assert_contains "$(<"$tmp/table.err")" "no step measured on both sides" "table.sh: why"
pass "table.sh: the before/after table"
worker_as_started "series.sh"

# ---- tools/dev bench: the caller's worker settings ----------------------------------------------
# The extra replicas of `tools/dev bench --replicas` take the environment's variables but for
# the worker settings the caller set (its PAYLINK_MAX_IN_FLIGHT here): each worker's start line
# says how many it takes at once.
log2="$PAYLINK_LOG_DIR/paylink-auth-bench2.log"
rc=0
PAYLINK_MAX_IN_FLIGHT=7 "$PL_ROOT/tools/dev" bench --worker auth --replicas 2 --requests 6 \
    --warmup 2 --max-in-flight 4 --sim-latency-ms 0 >"$tmp/caller.out" 2>"$tmp/caller.err" || rc=$?
if [ "$rc" != 0 ]; then
    tail -n 20 "$tmp/caller.err" >&2
    fail "tools/dev bench --replicas 2 exited with status $rc"
fi
assert_contains "$(grep '"paylink-auth started' "$log2" | tail -n 1)" "at most 7 in flight" \
    "tools/dev bench: the caller's PAYLINK_MAX_IN_FLIGHT reaches the extra replica"
assert_contains "$(grep '"paylink-auth started' "$PAYLINK_LOG_DIR/paylink-auth.log" | tail -n 1)" \
    "at most $PAYLINK_MAX_IN_FLIGHT in flight" "the environment's own worker keeps its setting"
pass "tools/dev bench: the caller's worker settings win for the replicas it starts"
worker_as_started "tools/dev bench --replicas"
