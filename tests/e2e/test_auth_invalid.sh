#!/usr/bin/env bash
# Bad input gets an `invalid` reply with precise errors and a dead-letter copy without card data,
# never a crash or silence.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)

# Not JSON at all (with a card number in it): reply + DLQ copy, every digit masked (found by the
# run's id as masked).
key="1-NJ$run"
pl_send_raw auth "$key" "this is not json 4111111111111111 cvv 123 $run"
dlq=$(pl_dlq_text auth "${run//[0-9]/*}" 30)
assert_not_contains "$dlq" 4111111111111111 "no card number in the dead-letter copy"
assert_contains "$dlq" "this is not json **************** cvv ***" "every digit masked, the text kept"
assert_contains "$dlq" "not a JSON object" "reason in the dead-letter copy"

# Valid JSON, several faults at once: every one reported with its field.
id="inv-$run"
bad=$(jq -cn --arg id "$id" '{v: 1, request_id: $id, type: "auth", company: 1000,
    order: "INV1", pay_seq: 0, service: "CYB", amount: "12.5", currency: "usd",
    card: {number: "4111111111111112", exp_month: 13, exp_year: 2031, cvv: "99999"}}')
pl_send auth "$bad"
r=$(pl_wait_reply auth "$id" 60)
assert_json .status invalid "$r"
fields=$(jq -r '[.errors[].field] | sort | join(",")' <<<"$r")
for f in company pay_seq amount currency card.number card.exp_month card.cvv; do
    assert_contains ",$fields," ",$f," "error reported for $f"
done
assert_contains "$(jq -r '.errors[] | select(.field == "card.number") | .error' <<<"$r")" Luhn "Luhn message"
dlq=$(pl_dlq auth "$id" 30)
assert_not_contains "$dlq" 4111111111111112 "card number masked in the DLQ"
assert_not_contains "$dlq" 99999 "cvv removed from the DLQ"
assert_json .redacted true "$dlq" # (the copy is not what was sent: paylinkctl never replays it)
assert_eq "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id = '$id'")" 0 "invalid requests are not recorded"

# An unknown service bureau is invalid too.
id2="inv2-$run"
pl_send auth "$(jq -cn --arg id "$id2" '{request_id: $id, type: "auth", company: 1, order: "INV2",
    pay_seq: 1, service: "NOPE", amount: "1.00", currency: "USD",
    card: {number: "4111111111111111", exp_month: 1, exp_year: 2032}}')"
r=$(pl_wait_reply auth "$id2" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' service "$r"

# A type this worker does not take.
id3="inv3-$run"
pl_send auth "$(jq -cn --arg id "$id3" '{request_id: $id, type: "debit", company: 1, order: "INV3",
    pay_seq: 1, service: "CYB", amount: "1.00", currency: "USD"}')"
r=$(pl_wait_reply auth "$id3" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' type "$r"
assert_json .redacted false "$(pl_dlq auth "$id3" 30)" # (nothing in it to redact)

pass "invalid requests"
