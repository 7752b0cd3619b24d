#!/usr/bin/env bash
# A token request creates a bureau token; an authorization with that token needs no card number.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
id="tok-$run"
pl_send auth "$(jq -cn --arg id "$id" '{request_id: $id, type: "token", company: 3, order: "TK1",
    pay_seq: 1, service: "CYB", currency: "USD",
    card: {number: "378282246310005", exp_month: 5, exp_year: 2032, type: "AX"},
    bill_to: {first_name: "Grace", last_name: "Hopper", street1: "2 Navy Way", city: "Arlington",
              state: "VA", postal_code: "22201", country: "US", email: "g@example.com"}}')"
r=$(pl_wait_reply auth "$id" 60)
assert_json .status approved "$r"
token=$(jq -r '.token // ""' <<<"$r")
assert_ne "$token" "" "token returned"
assert_eq "$(pl_sql "SELECT token_created = '$token' AND card_masked = '378282*****0005' FROM cc_auth_trans WHERE request_id = '$id'")" t "token and masked card stored"

id2="tokauth-$run"
pl_send auth "$(jq -cn --arg id "$id2" --arg tok "$token" '{request_id: $id, type: "auth",
    company: 3, order: "TK1", pay_seq: 1, service: "CYB", amount: "42.00", currency: "USD",
    card: {token: $tok, type: "AX"}}')"
r=$(pl_wait_reply auth "$id2" 60)
assert_json .status approved "$r"
assert_json .amount_approved 42.00 "$r"
assert_eq "$(pl_sql "SELECT operation || '|' || card_token FROM cc_auth_trans WHERE request_id = '$id2'")" "auth|$token" "token auth is a plain auth"

pass "token and token authorization"
