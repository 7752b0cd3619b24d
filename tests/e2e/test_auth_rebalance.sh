#!/usr/bin/env bash
# Scaling out and in under load: a second paylink-auth joins the consumer group while calls are
# in flight, then leaves with SIGTERM. Cooperative rebalancing drains revoked partitions first,
# so every request is answered, none is charged twice, and none becomes a required response.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
n=120
log2="$PAYLINK_LOG_DIR/paylink-auth-second.log"

pl_sim_latency 400
trap 'pl_sim_latency 0; [ -n "${pid2:-}" ] && kill "$pid2" 2>/dev/null || true' EXIT

# Many requests in one producer session: "key|json" lines through kcat.
send_batch() { # from to
    local i
    for ((i = $1; i < $2; i++)); do
        printf '1-RB%s%s|%s\n' "$run" "$i" \
            "$(pl_request auth "rb-$run-$i" 30.00 ".mode = \"batch\" | .order = \"RB$run$i\"")"
    done | kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -K '|'
}

send_batch 0 40
# A second replica joins the group (same environment, its own metrics port).
(. "${PAYLINK_ENV_FILE:-$PAYLINK_DEV_DIR/env}"; PAYLINK_METRICS_PORT=0 PAYLINK_INSTANCE="second-$run" \
    exec "$PAYLINK_BIN/paylink-auth") >>"$log2" 2>&1 &
pid2=$!
send_batch 40 80
pl_eventually 30 grep -q '"assigned' "$log2" || fail "the second replica never got partitions"
send_batch 80 $n
sleep 1
# ... and leaves while its calls are in flight.
kill -TERM "$pid2"
for i in $(seq 1 300); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid2" 2>/dev/null && fail "the second replica did not stop"
wait "$pid2" || fail "the second replica exited with an error"
pid2=

ids=()
for ((i = 0; i < n; i++)); do ids+=("rb-$run-$i"); done
replies=$(pl_wait_replies auth 90 "${ids[@]}") || fail "not every request answered"
assert_eq "$(jq -s 'map(select(.status == "approved")) | length' <<<"$replies")" "$n" \
    "every request approved" >/dev/null
pass "all $n requests answered"
assert_eq "$(pl_ledger | jq --arg p "rb-$run-" '[.[] | select(.op == "auth" and (.ref | startswith($p)))] | length')" "$n" "one authorization per request"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'rb-$run-%'")" 0 "no required responses"
assert_eq "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'rb-$run-%' AND status = 'approved'")" "$n" "all rows approved"
pass "rebalance under load"
