#!/usr/bin/env bash
# Crash and shutdown: a request whose bytes may have reached the bureau is never re-sent
# blindly (kill -9 while the call is in flight → after the restart the redelivered request
# becomes a required response), and SIGTERM finishes in-flight work before exiting.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pidfile="$PAYLINK_RUN_DIR/paylink-auth.pid"

# Starts the worker again exactly as it ran (same binary, arguments, environment and log).
restart_worker() { # pid
    local pid=$1 exe log
    exe=$(readlink "/proc/$pid/exe")
    log=$(readlink "/proc/$pid/fd/2")
    mapfile -d '' envs < "/proc/$pid/environ"
    wait_gone "$pid"
    env -i "${envs[@]}" nohup "$exe" >>"$log" 2>&1 &
    echo $! > "$pidfile"
}
wait_gone() { local i; for i in $(seq 1 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
ready() { local i; for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$PAYLINK_AUTH_METRICS_PORT/readyz" >/dev/null && return 0; sleep 0.1; done; fail "worker not ready"; }

# 1. kill -9 while a call is in flight (901: the simulator holds it).
id="crash-$run"
pl_send auth "$(jq -cn --arg id "$id" '{request_id: $id, type: "auth", company: 4, order: "CR1",
    pay_seq: 1, service: "CYB", amount: "901.00", currency: "USD", mode: "batch",
    card: {number: "4111111111111111", exp_month: 1, exp_year: 2032}}')"
for i in $(seq 1 100); do
    [ "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = '$id'")" = sent ] && break
    sleep 0.1
done
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = '$id'")" sent "marked sent before the call"
pid=$(cat "$pidfile")
kill -9 "$pid"
restart_worker "$pid"
ready
r=$(pl_wait_reply auth "$id" 90)
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(pl_sql "SELECT reason FROM required_response WHERE request_id = '$id'")" sent_not_answered "redelivered sent request → required response"
assert_eq "$(pl_ledger | jq --arg r "$id" '[.[] | select(.ref == $r)] | length')" 0 "never charged (and never re-sent)"

# 2. SIGTERM with calls in flight: they are answered before the process exits, exit status 0.
pl_sim_latency 1500
ids=()
for n in 1 2 3 4 5; do
    ids+=("term-$run-$n")
    pl_send auth "$(jq -cn --arg id "term-$run-$n" --arg ord "TM$n" '{request_id: $id, type: "auth",
        company: 4, order: $ord, pay_seq: 1, service: "CYB", amount: "20.00", currency: "USD",
        mode: "batch", card: {number: "4111111111111111", exp_month: 1, exp_year: 2032}}')"
done
for i in $(seq 1 100); do
    [ "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'term-$run-%' AND status = 'sent'")" -ge 1 ] && break
    sleep 0.05
done
pid=$(cat "$pidfile")
kill -TERM "$pid"
wait_gone "$pid" || fail "worker did not stop after SIGTERM"
pl_sim_latency 0
for id in "${ids[@]}"; do
    r=$(pl_wait_reply auth "$id" 60)
    assert_json .status approved "$r"
done
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'term-$run-%'")" 0 "graceful stop leaves nothing unknown"
restart_worker "$pid"
ready

pass "crash and shutdown recovery"
