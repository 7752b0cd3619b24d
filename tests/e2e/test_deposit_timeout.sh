#!/usr/bin/env bash
# A deposit whose answer comes later than the response time (5 s in the demo CYB): timeout
# reply and a required response, never a second capture; `paylinkctl deposits receive` then
# settles it from the bureau's record (the simulator's query by merchant reference code).
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

# Receive deposits: settled from the bureau's record, still one capture.
out=$("$PL_CTL" deposits receive --request-id "d-$run" --by e2e)
assert_contains "$out" "d-$run: approved" "receive output"
assert_eq "$(pl_sql "SELECT status || '|' || deposit_status || '|' || amount_deposited || '|' || vendor_response FROM cc_deposit_trans WHERE request_id = :'id'" id="d-$run")" \
    "approved|*RCVD|70.00|100" "settled"
assert_eq "$(pl_sql "SELECT status || '|' || resolution || '|' || resolved_by FROM required_response WHERE worker = 'deposit' AND request_id = :'id'" id="d-$run")" \
    "resolved|approved|e2e" "required response resolved"
assert_eq "$(pl_sql "SELECT event FROM cc_deposit_history WHERE request_id = :'id' ORDER BY id" id="d-$run")" received "history row"
assert_eq "$(pl_sql "SELECT amount_deposited FROM auth_history WHERE request_id = :'id' ORDER BY id LIMIT 1" id="a-$run")" 70.00 "authorization deposited"
assert_eq "$(pl_sql "SELECT reply->>'status' FROM cc_deposit_trans WHERE request_id = :'id'" id="d-$run")" approved "stored reply is final"
assert_eq "$(pl_ledger_count "d-$run" capture)" 1 "still one capture in the ledger"
# The upstream system, told "timeout, required response", now gets the final answer.
r=$(pl_wait_reply_nth deposit "d-$run" 3 60)
assert_json .status approved "$r"
assert_json .amount_approved 70.00 "$r"
assert_eq "$(jq -r '.required_response // false' <<<"$r")" false "the settled reply is final"

# Running it again finds nothing left to do.
out=$("$PL_CTL" deposits receive --request-id "d-$run")
assert_contains "$out" "0 deposit(s)" "nothing left"

pass "deposit timeout and receive"
