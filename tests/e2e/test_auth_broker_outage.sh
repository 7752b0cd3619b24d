#!/usr/bin/env bash
# Kafka goes away while calls are in flight: the replies are published once it is back (at
# least once), nothing is charged twice and nothing becomes a required response.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
n=20
broker() { curl -sf -o /dev/null -X POST "$PAYLINK_BROKER_CONTROL_URL/brokers/$1" || fail "broker control $1"; }
trap 'broker up; pl_sim_latency 0' EXIT

pl_sim_latency 1500
for ((i = 0; i < n; i++)); do
    printf '1-BO%s%s|%s\n' "$run" "$i" \
        "$(pl_request auth "bo-$run-$i" 33.00 ".mode = \"batch\" | .order = \"BO$run$i\"")"
done | kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -K '|'

in_flight() { [ "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'bo-$run-%' AND status = 'sent'")" -gt 0 ]; }
pl_eventually 30 in_flight || fail "no call in flight"
broker down
sleep 5
broker up

for ((i = 0; i < n; i++)); do
    r=$(pl_wait_reply auth "bo-$run-$i" 120)
    assert_json .status approved "$r" >/dev/null
done
pass "all $n requests answered after the outage"
assert_eq "$(pl_ledger | jq --arg p "bo-$run-" '[.[] | select(.op == "auth" and (.ref | startswith($p)))] | length')" "$n" "one authorization per request"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'bo-$run-%'")" 0 "no required responses"
pass "broker outage"
