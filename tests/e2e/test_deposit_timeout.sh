#!/usr/bin/env bash
# A deposit whose answer comes later than the response time (5 s in the demo CYB): timeout
# reply and a required response, never a second capture; `paylinkctl deposits receive` then
# settles it through the resolver (common/resolver.h): CyberSource's On-Demand Single
# Transaction Query against the simulator finds the capture the bureau made, the outcome is
# applied as the answer would have been (resolved_how 'query'), and the upstream system gets a
# third, final reply ("resolved": true, "resolution": "query"). Still one capture.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
ord="DT$run"
pl_send auth "$(pl_request auth "a-$run" 70.00 ".order = \"$ord\"")"
r=$(pl_wait_reply auth "a-$run" 60)
assert_json .status approved "$r"

debit=$(jq -nc --arg id "d-$run" --arg order "$ord" --arg a "a-$run" '{v: 1, request_id: $id,
    type: "debit", company: 1, order: $order, pay_seq: 1, service: "CYB", amount: "70.00",
    currency: "USD", auth_ref: {request_id: $a}}')

# The simulator captures at once but answers after the worker stopped waiting.
pl_on_exit pl_sim_latency 0
pl_sim_latency 8000
pl_send deposit "$debit"
r=$(pl_wait_reply deposit "d-$run" 60)
pl_sim_latency 0
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(pl_sql "SELECT status FROM cc_deposit_trans WHERE request_id = :'id'" id="d-$run")" unknown "row unknown"
assert_eq "$(pl_sql "SELECT status FROM required_response WHERE worker = 'deposit' AND request_id = :'id'" id="d-$run")" open "required response open"

# A redelivery is answered from the stored reply: never a second capture.
pl_send deposit "$debit"
r=$(pl_wait_reply_nth deposit "d-$run" 2 60)
assert_json .status timeout "$r"
assert_json .replayed true "$r"
assert_eq "$(pl_ledger_count "d-$run" capture)" 1 "the bureau captured once"

# Receive deposits: the resolver asks the bureau now (the test profile delays its own first step
# a day, so nothing else touches the row), still one capture.
out=$("$PL_CTL" deposits receive --request-id "d-$run" --by e2e)
assert_contains "$out" "d-$run: resolved approved (query)" "receive output"
assert_contains "$out" "1 deposit(s) without an answer, 1 settled" "receive summary"
assert_eq "$(pl_sql "SELECT status || '|' || deposit_status || '|' || amount_deposited || '|' || vendor_response || '|' || (transaction_id <> '') FROM cc_deposit_trans WHERE request_id = :'id'" id="d-$run")" \
    "approved|*RCVD|70.00|100|true" "settled"
# resolved_by: paylinkctl's resolver, on behalf of the --by name.
assert_eq "$(pl_sql "SELECT status || '|' || resolution || '|' || resolved_how || '|' || (resolved_by LIKE 'paylinkctl:e2e@%') || '|' || queries || '|' || reply_pending FROM required_response WHERE worker = 'deposit' AND request_id = :'id'" id="d-$run")" \
    "resolved|approved|query|true|1|false" "required response resolved by the query"
assert_eq "$(pl_sql "SELECT event FROM cc_deposit_history WHERE request_id = :'id' ORDER BY id" id="d-$run")" received "history row"
assert_eq "$(pl_sql "SELECT amount_deposited FROM auth_history WHERE request_id = :'id' ORDER BY id LIMIT 1" id="a-$run")" 70.00 "authorization deposited"
assert_eq "$(pl_sql "SELECT reply->>'status' || '|' || (reply->>'resolved') || '|' || (reply->>'resolution') FROM cc_deposit_trans WHERE request_id = :'id'" id="d-$run")" \
    "approved|true|query" "stored reply is final"
assert_eq "$(pl_ledger_count "d-$run" capture)" 1 "still one capture in the ledger"
# The upstream system, told "timeout, required response", now gets the final answer.
r=$(pl_wait_reply_nth deposit "d-$run" 3 60)
assert_json .status approved "$r"
assert_json .amount_approved 70.00 "$r"
assert_json .resolved true "$r"
assert_json .resolution query "$r"
assert_eq "$(jq -r '.required_response // false' <<<"$r")" false "the settled reply is final"
assert_eq "$(jq -r .auth.transaction_id <<<"$r")" \
    "$(pl_sql "SELECT transaction_id FROM cc_deposit_trans WHERE request_id = :'id'" id="d-$run")" "the bureau's id"

# Running it again finds nothing left to do.
out=$("$PL_CTL" deposits receive --request-id "d-$run")
assert_contains "$out" "0 deposit(s)" "nothing left"
assert_eq "$(pl_ledger_count "d-$run" capture)" 1 "never captured again"

# A deposit the bureau never got (901): its query finds no record. The row stays open while the
# record may still come — or, on a machine so slow that the policy's not_found_after_s (120 s)
# passed since it was sent, the bureau's "no record" is believed and it is settled `error`.
# Either way nothing is captured, and nothing is sent again.
pl_send auth "$(pl_request auth "a2-$run" 950.00 ".order = \"$ord\" | .pay_seq = 2")"
assert_json .status approved "$(pl_wait_reply auth "a2-$run" 60)"
pl_send deposit "$(pl_debit "d2-$run" 901.00 "$ord" "a2-$run" '.pay_seq = 2')"
r=$(pl_wait_reply deposit "d2-$run" 60)
assert_json .status timeout "$r"
out=$("$PL_CTL" deposits receive --request-id "d2-$run")
case "$out" in
*"d2-$run: still open: query 1: no record at the bureau yet"*"1 still open"*)
    # (paylink-deposit's resolver asks again later: at least this query is counted.)
    assert_eq "$(pl_sql "SELECT queries >= 1 FROM required_response WHERE worker = 'deposit' AND request_id = :'id'" id="d2-$run")" \
        t "the query is counted" ;;
*"d2-$run: resolved error (query)"*) pass "the bureau's no record was believed" ;;
*) fail "receive of d2-$run: $out" ;;
esac
assert_eq "$(pl_ledger_count "d2-$run" capture)" 0 "never captured"

pass "deposit timeout and receive"
