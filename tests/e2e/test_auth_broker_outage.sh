#!/usr/bin/env bash
# Kafka goes away while calls are in flight: the replies are published once it is back (at
# least once), nothing is charged twice and nothing becomes a required response. On Apache
# Kafka it goes away three ways, one round of requests each: the broker process is killed
# (SIGKILL) and started again on the same storage, stopped cleanly (SIGTERM) and started again,
# and frozen (SIGSTOP) then thawed (SIGCONT) — the last one leaves connections open and
# silent, which only timeouts notice. On the mock broker (PAYLINK_DEV_BROKER=mock) its brokers
# are taken down and up inside it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
n=20
if [ "${PAYLINK_DEV_BROKER:-kafka}" = mock ]; then
    rounds=(mock)
    broker() { curl -sf -o /dev/null -X POST "$PAYLINK_BROKER_CONTROL_URL/brokers/$1" || fail "broker control $1"; }
    pl_on_exit "broker up"
else
    rounds=(kill stop pause)
    pl_on_exit "pl_kafka resume || true; pl_kafka start"
fi
pl_on_exit "pl_sim_latency 0"

pl_sim_latency 1500
for round in "${rounds[@]}"; do
    tag=$run$round
    for ((i = 0; i < n; i++)); do
        printf '1-BO%s%s|%s\n' "$tag" "$i" \
            "$(pl_request auth "bo-$tag-$i" 33.00 ".mode = \"batch\" | .order = \"BO$tag$i\"")"
    done | kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -K '|'

    in_flight() { [ "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'bo-$tag-%' AND status = 'sent'")" -gt 0 ]; }
    # A worker may still be rejoining its group after the previous round's restart.
    pl_eventually 90 in_flight || fail "$round: no call in flight"
    case $round in
    mock) broker down; sleep 5; broker up ;;
    kill) pl_kafka kill; sleep 5; pl_kafka start ;;
    stop) pl_kafka stop; sleep 5; pl_kafka start ;;
    pause) pl_kafka pause; sleep 8; pl_kafka resume ;;
    esac

    ids=()
    for ((i = 0; i < n; i++)); do ids+=("bo-$tag-$i"); done
    replies=$(pl_wait_replies auth 120 "${ids[@]}") || fail "$round: not every request answered"
    assert_eq "$(jq -s 'map(select(.status == "approved")) | length' <<<"$replies")" "$n" \
        "$round: every request approved" >/dev/null
    pass "$round: all $n requests answered after the outage"
    assert_eq "$(pl_ledger | jq --arg p "bo-$tag-" '[.[] | select(.op == "auth" and (.ref | startswith($p)))] | length')" "$n" "$round: one authorization per request"
    assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'bo-$tag-%'")" 0 "$round: no required responses"
done
# The environment's other consuming workers lived through the outages too, and this test does not
# check them. librdkafka 2.0.2 can leave an incremental assignment without fetch positions when
# the committed-offset fetch after the broker's restart is answered "Not coordinator" (seen:
# paylink-deposit consumed nothing until it was restarted, and the next test in this environment
# waited for it in vain). The engine now leaves its group and joins it again when an assigned
# partition is not fetched for PAYLINK_KAFKA_STALL_MS (120 s); they are restarted here so that
# the next test finds them consuming without waiting that long.
if [ "${PAYLINK_DEV_BROKER:-kafka}" != mock ]; then
    for w in deposit reversal svc; do pl_worker_stop "$w" && pl_worker_start "$w"; done
fi
pass "broker outage"
