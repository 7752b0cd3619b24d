#!/usr/bin/env bash
# paylinkctl bench at a tiny size against the running environment, for each consuming worker:
# auth with a second replica (started, taken into the consumer group, stopped at the end),
# deposit (its authorizations set up first) with the sequential baseline, reversal in the open
# loop (--rate), svc (its card activated first), and svc's deposits (--type deposit: the card,
# then its authorizations). Each run must end with one JSON line holding every field of the
# README's "Benchmark" and as many replies as requests, all approved. No timing is asserted:
# the numbers of a loaded CI machine mean nothing here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The runs change the simulator's latency; the environment's is 0 for the tests after this one.
pl_on_exit "pl_sim_latency 0"

tmp=$(mktemp -d)
pl_on_exit "rm -rf '$tmp'"

KEYS=(replies seconds throughput p50_ms p99_ms max_rss_kb worker_cpu_us_per_tx
    db_cpu_us_per_tx harness_cpu_us_per_tx requests approved max_in_flight sim_latency_ms worker
    replicas rate sim_cpu_us_per_tx broker_cpu_us_per_tx bench_cpu_us_per_tx
    db_upkeep_cpu_us_per_tx max_gap_ms io_stall_pct tls_full tls_resumed)

# bench NAME ARGS...: runs paylinkctl bench with ARGS (10 requests, 2 of warm-up), checks its
# last line and leaves it in $line, its stderr in $tmp/NAME.err.
bench() {
    local name=$1 rc=0 key
    shift
    "$PL_CTL" bench --requests 10 --warmup 2 --timeout 60 "$@" >"$tmp/$name.out" \
        2>"$tmp/$name.err" || rc=$?
    if [ "$rc" != 0 ]; then
        tail -n 20 "$tmp/$name.err" >&2
        fail "$name: paylinkctl bench exited with status $rc"
    fi
    line=$(tail -n 1 "$tmp/$name.out")
    jq -e 'type == "object"' >/dev/null 2>&1 <<<"$line" ||
        fail "$name: the last line is not a JSON object: $line"
    for key in "${KEYS[@]}"; do
        jq -e --arg k "$key" 'has($k)' >/dev/null <<<"$line" || fail "$name: no $key in $line"
    done
    pass "$name: the last line is JSON with every field"
    for key in requests replies approved; do
        assert_eq "$(jq -r ".$key" <<<"$line")" 10 "$name: $key"
    done
    # Every component of a tools/dev environment has a pid file: each CPU figure is a number.
    for key in worker db harness sim broker bench db_upkeep; do
        assert_eq "$(jq -r ".${key}_cpu_us_per_tx | type" <<<"$line")" number "$name: ${key} CPU"
    done
    # PostgreSQL's upkeep is a part of its whole.
    jq -e '.db_upkeep_cpu_us_per_tx <= .db_cpu_us_per_tx' >/dev/null <<<"$line" ||
        fail "$name: db_upkeep_cpu_us_per_tx above db_cpu_us_per_tx in $line"
    assert_contains "$(<"$tmp/$name.err")" "postgresql" "$name: the CPU table"
    assert_contains "$(<"$tmp/$name.err")" "of it, its upkeep" "$name: PostgreSQL's upkeep"
    # The stall figures: a gap of at least 0 ms; the I/O stall a share (null without PSI).
    jq -e '.max_gap_ms >= 0' >/dev/null <<<"$line" || fail "$name: max_gap_ms in $line"
    jq -e '.io_stall_pct == null or (.io_stall_pct >= 0 and .io_stall_pct <= 100)' >/dev/null \
        <<<"$line" || fail "$name: io_stall_pct in $line"
    assert_contains "$(<"$tmp/$name.err")" "the longest time without a reply" "$name: the stall line"
    # The simulator's handshakes during the measured phase: counts (it says them, GET /__sim/tls).
    jq -e '(.tls_full | type) == "number" and .tls_full >= 0 and
        (.tls_resumed | type) == "number" and .tls_resumed >= 0' >/dev/null <<<"$line" ||
        fail "$name: tls_full, tls_resumed in $line"
    assert_contains "$(<"$tmp/$name.err")" "TLS handshakes with the simulator" "$name: the TLS line"
}

# auth, two replicas: the second one is started, joins the group, is stopped at the end.
bench auth --worker auth --max-in-flight 4 --replicas 2 --sim-latency-ms 0
assert_json .worker auth "$line"
assert_json .replicas 2 "$line"
assert_json .rate 0 "$line"
assert_json .max_in_flight 4 "$line"
assert_json .sim_latency_ms 0 "$line"
pid=$(sed -n 's/^bench: started replica 2 of paylink-auth (pid \([0-9]*\),.*/\1/p' "$tmp/auth.err")
assert_ne "$pid" "" "the replica's pid on stderr"
if kill -0 "$pid" 2>/dev/null; then fail "replica $pid still runs after the benchmark"; fi
pass "the replica is stopped"
log=$PAYLINK_LOG_DIR/paylink-auth-bench2.log
assert_contains "$(<"$log")" "assigned" "the replica's log"
assert_contains "$(tail -n 3 "$log")" "stopped" "the end of the replica's log"

# deposit, with the baseline: one debit per authorization of the setup, then 3 one at a time.
bench deposit --worker deposit --baseline --baseline-requests 3
assert_json .worker deposit "$line"
assert_json .baseline_replies 3 "$line"
assert_eq "$(jq -r '.baseline_throughput | type' <<<"$line")" number "baseline_throughput"
assert_eq "$(jq -r '.speedup | type' <<<"$line")" number "speedup"
assert_json .max_in_flight 0 "$line"
assert_contains "$(<"$tmp/deposit.err")" "setup: 17 authorizations" "the setup"

# reversal, open loop: 20 requests per second (whether the rate was kept is not asserted).
bench reversal --worker reversal --rate 20 --sim-latency-ms 0
assert_json .worker reversal "$line"
assert_json .rate 20 "$line"
assert_eq "$(jq -r '.rate_kept | type' <<<"$line")" boolean "rate_kept"

# svc: a card of the run's own, activated first.
bench svc --worker svc --max-in-flight 4
assert_json .worker svc "$line"
assert_json .replicas 1 "$line"
assert_contains "$(<"$tmp/svc.err")" "activating a card" "the activation"
assert_json .type auth "$line"

# svc deposits: a card of the run's own, its authorizations (the setup), one deposit of each.
bench svc-deposit --worker svc --type deposit --max-in-flight 4
assert_json .worker svc "$line"
assert_json .type deposit "$line"
assert_contains "$(<"$tmp/svc-deposit.err")" "activating a card" "the activation"
assert_contains "$(<"$tmp/svc-deposit.err")" "setup: 12 authorizations through paylink-svc" "the setup"
