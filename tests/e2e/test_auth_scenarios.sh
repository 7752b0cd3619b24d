#!/usr/bin/env bash
# Every CyberSource scenario of CONTRACT.md §3 through Kafka, as an upstream system sends them:
# the reply's fields, the rows in cc_auth_trans / auth_history / required_response, and the
# simulator's ledger.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
declare -A rid

# amount → request, all sent at once so the slow ones (timeouts) overlap.
send_auth() { # name amount [extra jq filter]
    local name=$1 amount=$2 extra=${3:-.}
    rid[$name]="sc-$run-$name"
    local msg
    msg=$(jq -cn --arg id "${rid[$name]}" --arg amt "$amount" --arg ord "SC$run$name" '{
        v: 1, request_id: $id, type: "auth", company: 1, order: $ord, pay_seq: 1,
        service: "CYB", amount: $amt, currency: "USD", mode: "online",
        card: {number: "4111111111111111", exp_month: 12, exp_year: 2031, cvv: "123", type: "VI"},
        bill_to: {first_name: "Ada", last_name: "Lovelace", street1: "1 Main St", city: "Boston",
                  state: "MA", postal_code: "02110", country: "US", email: "ada@example.com"},
        ship_to: {first_name: "Ada", last_name: "Lovelace", street1: "1 Main St", city: "Boston",
                  state: "MA", postal_code: "02110", country: "US", shipping_method: "oneday"},
        items: [{sku: "SKU1", name: "Widget", product_code: "default", unit_price: $amt, quantity: 1}]
      } | '"$extra")
    pl_send auth "$msg"
}

# The unknown outcomes below are asserted as the worker leaves them (unknown, an open
# required_response): the resolver must not settle them first.
pl_hold_resolver

send_auth approve 120.00
send_auth partial 110.00
send_auth error150 150.00
for c in 202 203 204 205 211 231; do send_auth "decl$c" "$c.00"; done
send_auth score400 400.00
send_auth review 480.00
send_auth dmreject 481.00
send_auth batch480 480.00 '.mode = "batch"'
send_auth timeout 901.00
send_auth http500 902.00
send_auth garbage 903.00
send_auth dropped 904.00
send_auth avsn 121.00 '.bill_to.postal_code = "00000"'
send_auth cvvn 122.00 '.card.cvv = "000"'

get() { pl_wait_reply auth "${rid[$1]}" 60; }

r=$(get approve)
assert_json .status approved "$r"
assert_json .vendor_response 100 "$r"
assert_json .decision ACCEPT "$r"
assert_json .amount_requested 120.00 "$r"
assert_json .amount_approved 120.00 "$r"
assert_json .auth.avs Y "$r"
assert_json .auth.cvv M "$r"
assert_json .card.masked 411111******1111 "$r"
assert_json .card.type VI "$r"
assert_ne "$(jq -r '.token // ""' <<<"$r")" "" "a token+auth answer carries the new token"
assert_ne "$(jq -r '.auth.transaction_id // ""' <<<"$r")" "" "transaction id"
assert_eq "$(pl_sql "SELECT status || '|' || operation || '|' || amount_approved || '|' || (transaction_id <> '') FROM cc_auth_trans WHERE request_id = '${rid[approve]}'")" \
    "approved|token_auth|120.00|true" "approved row"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_history WHERE request_id = '${rid[approve]}' AND status = 'approved' AND amount_authorized = 120.00")" 1 "history row"
assert_eq "$(pl_ledger | jq --arg r "${rid[approve]}" '[.[] | select(.ref == $r and .op == "auth")] | length')" 1 "one auth in the ledger"

r=$(get partial)
assert_json .status approved "$r"
assert_json .vendor_response 110 "$r"
assert_json .amount_requested 110.00 "$r"
assert_json .amount_approved 55.00 "$r"

r=$(get error150)
assert_json .status error "$r"
assert_json .vendor_response 150 "$r"
assert_json .decision ERROR "$r"

for c in 202 203 204 205 211 231; do
    r=$(get "decl$c")
    assert_json .status declined "$r"
    assert_json .vendor_response "$c" "$r"
    assert_json .hold_reason AT "$r"
done

r=$(get score400)
assert_json .status rejected "$r"
assert_json .vendor_response 400 "$r"
assert_json .hold_reason FS "$r"

r=$(get review)
assert_json .status review "$r"
assert_json .vendor_response 480 "$r"
assert_json .decision REVIEW "$r"
assert_json .hold_reason FS "$r"

r=$(get dmreject)
assert_json .status rejected "$r"
assert_json .vendor_response 481 "$r"
assert_json .hold_reason FS "$r"
assert_eq "$(pl_sql "SELECT payment_deactivated FROM cc_auth_trans WHERE request_id = '${rid[dmreject]}'")" t "481 deactivates the payment"
# Send reversal is set on CYB: the issuer approved it, so a reversal request is published.
rev=$(pl_wait_topic "$PAYLINK_TOPIC_PREFIX.reversal.request" "${rid[dmreject]}.rev" 30)
assert_json .type reversal "$rev"
assert_json .auth_ref.request_id "${rid[dmreject]}" "$rev"
assert_json .amount 481.00 "$rev"

# Decision Manager scores online authorizations only: the batch 480 is simply approved.
r=$(get batch480)
assert_json .status approved "$r"

# Issue 6 B.7: address / card verification failures place the hold vendor_response says for
# those codes (demo: AVS N → AV, CVN N → CV); the authorization itself stays approved.
r=$(get avsn)
assert_json .status approved "$r"
assert_json .auth.avs N "$r"
assert_json .hold_reason AV "$r"
assert_eq "$(pl_sql "SELECT hold_reason FROM cc_auth_trans WHERE request_id = '${rid[avsn]}'")" AV "AVS hold stored"
r=$(get cvvn)
assert_json .auth.cvv N "$r"
assert_json .hold_reason CV "$r"
r=$(get approve)
assert_json '.hold_reason // ""' "" "$r"

# Unknown outcomes: a timeout reply with required_response and an open required_response row,
# and nothing charged twice.
for name in timeout dropped; do
    r=$(get $name)
    assert_json .status timeout "$r"
    assert_json .required_response true "$r"
    assert_json .vendor_response 150 "$r"
    assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = '${rid[$name]}'")" unknown "$name row"
    assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id = '${rid[$name]}' AND status = 'open' AND worker = 'auth'")" 1 "$name required response"
done
assert_eq "$(pl_sql "SELECT reason FROM required_response WHERE request_id = '${rid[timeout]}'")" timeout "timeout reason"
assert_eq "$(pl_sql "SELECT reason FROM required_response WHERE request_id = '${rid[dropped]}'")" connection_lost "dropped reason"

# An answer that is not a reply (HTTP 500, garbage) is an error whose outcome is unknown.
for name in http500 garbage; do
    r=$(get $name)
    assert_json .status error "$r"
    assert_json .required_response true "$r"
    assert_eq "$(pl_sql "SELECT reason FROM required_response WHERE request_id = '${rid[$name]}'")" unreadable_answer "$name reason"
done

# The worker counts the connections it made to the bureau, by TLS handshake (a dropped
# connection above made it open others; whether they resumed a session depends on which ticket
# each found: test_sim_server counts that exactly).
tls_count() { # full|resumed: paylink_bureau_connections_total{tls=...}, a whole number
    local v
    v=$(pl_metric paylink_bureau_connections_total "" "tls=\"$1\"")
    echo "${v%.*}"
}
full=$(tls_count full)
resumed=$(tls_count resumed)
[ -n "$full" ] && [ -n "$resumed" ] || fail "paylink_bureau_connections_total{tls} is missing"
[ "$full" -ge 1 ] || fail "no full TLS handshake counted ($full)"
pass "connections counted: $full full, $resumed resumed"

# A connection to the bureau idle longer than its auth_service.connection_idle_s is not reused:
# with 1 s, a call 3 s after the last one opens a new connection (libcurl retires one idle more
# than the whole seconds given; test_http counts that against a server of its own, and that the
# default keeps it). Each call is waited for in its row, not its reply: the gap between the two
# calls must stay far below the default of 30 s, or the test could not fail.
connections() { echo $(($(tls_count full) + $(tls_count resumed))); }
row_approved() { # NAME: the row of rid[NAME] says approved (its bureau call done)
    [ "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="${rid[$1]}")" = approved ]
}
idle=$(pl_sql "SELECT connection_idle_s FROM auth_service WHERE service_bureau = 'CYB'")
pl_on_exit "pl_sql \"UPDATE auth_service SET connection_idle_s = $idle WHERE service_bureau = 'CYB'\" >/dev/null; pl_worker_stop auth; pl_worker_start auth"
pl_sql "UPDATE auth_service SET connection_idle_s = 1 WHERE service_bureau = 'CYB'" >/dev/null
pl_worker_stop auth
pl_worker_start auth
send_auth idle1 120.00
pl_eventually 60 row_approved idle1 || fail "${rid[idle1]}: not approved within 60 s"
before=$(connections)
sleep 3
send_auth idle2 120.00
pl_eventually 60 row_approved idle2 || fail "${rid[idle2]}: not approved within 60 s"
assert_eq "$(($(connections) - before))" 1 "a new connection after an idle 3 s (connection_idle_s 1)"

pass "all CyberSource scenarios"
