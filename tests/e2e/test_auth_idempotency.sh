#!/usr/bin/env bash
# The same request_id twice → one bureau authorization and a replayed reply; the same
# request_id with other content → refused as a conflict, nothing sent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
id="idem-$run"
msg=$(jq -cn --arg id "$id" --arg ord "ID$run" '{v: 1, request_id: $id, type: "auth", company: 2,
    order: $ord, pay_seq: 1, service: "CYB", amount: "75.00", currency: "USD",
    card: {number: "5555555555554444", exp_month: 11, exp_year: 2030, cvv: "321"}}')

pl_send auth "$msg"
first=$(pl_wait_reply auth "$id" 60)
assert_json .status approved "$first"
assert_eq "$(jq -r '.replayed // false' <<<"$first")" false "first reply is not a replay"

# A redelivery (upstream retry): answered from the stored reply, the bureau not called again.
pl_send auth "$msg"
second=$(pl_wait_reply_nth auth "$id" 2 60)
assert_json .status approved "$second"
assert_json .replayed true "$second"
assert_eq "$(jq -r .auth.transaction_id <<<"$second")" "$(jq -r .auth.transaction_id <<<"$first")" "same authorization"
assert_eq "$(pl_ledger_count "$id" auth)" 1 "one bureau authorization in the ledger"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_history WHERE request_id = '$id'")" 1 "one history row"

# The same key with a different amount is another request: refused, never sent.
other=$(jq -c '.amount = "76.00"' <<<"$msg")
pl_send auth "$other"
third=$(pl_wait_reply_nth auth "$id" 3 60)
assert_json .status invalid "$third"
assert_json '.errors[0].field' request_id "$third"
assert_eq "$(pl_ledger_count "$id" auth)" 1 "still one bureau authorization"
dlq=$(pl_dlq auth "$id" 30)
assert_contains "$dlq" "request_id" "conflict copied to the dead-letter topic"
assert_eq "$(pl_sql "SELECT amount FROM cc_auth_trans WHERE request_id = '$id'")" 75.00 "stored request unchanged"

pass "idempotency by request_id"
