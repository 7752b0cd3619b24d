#!/usr/bin/env bash
# The External Payment Service's OAuth and timing (issue 9; seed external-payment-service.txt,
# schema/ext/README.md), through Kafka, paylink-auth and the simulator's EXT endpoints:
#   - an access token that expires mid-run (the simulator expires every token it issued) is
#     refreshed once: the next request is answered 401, paylink gets one new token and sends the
#     same request once more; it is approved and the ledger shows it once;
#   - CONTRACT.md §3's 907: the first call of the request answers 401 although the token is
#     valid; after one refresh it is approved, once in the ledger;
#   - the token is reused: requests in a row cost no token request each;
#   - answer wait = Response check frequency × Response time: a 901 (no answer) on a copy of
#     EXT with frequency 2 and response time 1000 ms is answered `timeout`, vendor response SU,
#     with a required response, and the reply says how long paylink waited (2000 ms).
# Checked by replies, rows, the ledger and the simulator's token counters; never by a clock.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
tokens() { curl -sf --cacert "$PAYLINK_SIM_CA" "$PAYLINK_SIM_URL/__sim/ext/tokens" | jq -r ".$1"; }
expire_tokens() {
    curl -sf -o /dev/null -X POST --cacert "$PAYLINK_SIM_CA" "$PAYLINK_SIM_URL/__sim/ext/expire-tokens" ||
        fail "cannot expire the simulator's tokens"
}
ext_auth() { # ID AMOUNT [SERVICE]: an EXT authorization (card number: getToken first); its reply
    pl_auth_reply "$1" "$2" "XO$run" ".service = \"${3:-EXT}\" | .pay_seq = 1"
}
ledger_auths() { pl_ledger | jq --arg id "$1" '[.[] | select(.protocol == "EXT" and .ref == $id and .op == "auth")] | length'; }

# ---- a first request gets a token; the next ones reuse it -------------------------------------
r=$(ext_auth "xo1-$run" 12.00)
assert_json .status approved "$r"
assert_json .amount_approved 12.00 "$r"
issued=$(tokens issued)
r=$(ext_auth "xo2-$run" 13.00)
assert_json .status approved "$r"
assert_ne "$(jq -r '.token // ""' <<<"$r")" "" "the reply carries the card's token"
assert_eq "$(tokens issued)" "$issued" "no new access token for the second request"

# ---- the token expires mid-run: one refresh, the request once -------------------------------
expire_tokens
r=$(ext_auth "xo3-$run" 14.00)
assert_json .status approved "$r"
assert_json .amount_approved 14.00 "$r"
assert_eq "$(tokens issued)" $((issued + 1)) "exactly one new access token after the expiry"
assert_eq "$(ledger_auths "xo3-$run")" 1 "the ledger shows the authorization once"
grep -F -- "xo3-$run" "$PAYLINK_LOG_DIR/paylink-auth.log" | grep -qF "answered 401" ||
    fail "paylink-auth did not log the 401 and the resend"
pass "paylink-auth logged the 401 and the resend"

# The worker counts its token requests (none failed).
[ "$(pl_metric paylink_oauth_token_requests_total "" 'result="ok"')" -ge 1 ] ||
    fail "paylink_oauth_token_requests_total{result=ok} is 0"
pass "paylink_oauth_token_requests_total counts the refresh"
assert_eq "$(pl_metric paylink_oauth_token_requests_total "" 'result="failed"')" 0 "no token request failed"

# ---- 907: a 401 once, then approved ----------------------------------------------------------
issued=$(tokens issued)
r=$(ext_auth "xo907-$run" 907.00)
assert_json .status approved "$r"
assert_json .amount_approved 907.00 "$r"
assert_eq "$(tokens issued)" $((issued + 1)) "one token refresh for the 907 request"
assert_eq "$(ledger_auths "xo907-$run")" 1 "the 907 authorization is in the ledger once"
assert_eq "$(pl_sql "SELECT status || '|' || initiator FROM cc_auth_trans WHERE request_id = :'id'" id="xo907-$run")" \
    "approved|CARDHOLDER" "cc_auth_trans row of the 907 request"

# ---- answer wait = frequency × response time ------------------------------------------------------
pl_clone_ext EXTW '{"response_time_ms": 1000, "response_check_frequency": 2, "connect_attempts": 1}' '{}' auth
w="xow-$run"
r=$(ext_auth "$w" 901.00 EXTW)
assert_json .status timeout "$r"
assert_json .vendor_response SU "$r"
assert_json .required_response true "$r"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$w")" unknown \
    "the row's outcome is unknown"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id = :'id'" id="$w")" 1 \
    "one required response"
# The reply says how long paylink waited: frequency × response time = 2 × 1000 ms.
assert_json .message "No answer from the payment service within 2000 ms: the outcome is unknown." "$r"
assert_eq "$(pl_ledger | jq --arg id "$w" '[.[] | select(.ref == $id and .op == "auth")] | length')" 0 \
    "901 authorized nothing"

assert_logs_clean
