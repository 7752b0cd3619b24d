#!/usr/bin/env bash
# Issue 6 B: deposit and reversal money rules (seed cybersource-point-to-point.txt).
#   B.1 a REVIEW (480) authorization is approved and valid: its amount is recorded and a debit
#       against it is a capture, not a second authorization; a debit naming a REJECTed (481) one
#       is declined without a call, even with a card (not an unscreened auth+capture);
#   B.2 a pay type without a vendor_paytype row keeps its authorizations the documented default
#       (7 days): a same-day debit is a capture, not an auth+capture of an "expired" one;
#   B.5 references belong to the order: a debit, credit or reversal naming another order's
#       transaction is invalid (field named) and never recorded nor sent; a follow-on credit is
#       capped at what was captured less earlier credits;
#   B.7 a `token` request honours the bureau's Request token setting;
#   a soft-declined auth+capture (230) has the authorization it made reversed;
#   a debit naming an authorization whose outcome is not known yet is not authorized anew.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
auth() { pl_auth_reply "$@"; }
debit() { pl_debit "$@"; }
credit() { # ID AMOUNT ORDER DEBIT_ID
    jq -nc --arg id "$1" --arg amount "$2" --arg order "$3" --arg d "$4" '{v: 1,
        request_id: $id, type: "credit", company: 1, order: $order, pay_seq: 1, service: "CYB",
        amount: $amount, currency: "USD", capture_ref: {request_id: $d}}'
}

# ---- B.1 review -----------------------------------------------------------------------------
ord="RV$run"
r=$(auth "rva-$run" 480.00 "$ord")
assert_json .status review "$r"
assert_json .hold_reason FS "$r"
assert_eq "$(pl_sql "SELECT status || '|' || amount_authorized FROM auth_history WHERE request_id = :'id'" id="rva-$run")" \
    "review|480.00" "the review's authorized amount is recorded"
pl_send deposit "$(debit "rvd-$run" 480.00 "$ord" "rva-$run")"
r=$(pl_wait_reply deposit "rvd-$run" 60)
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT operation || '|' || deposit_reason FROM cc_deposit_trans WHERE request_id = :'id'" id="rvd-$run")" \
    "capture|capture" "a debit of a reviewed authorization is a capture"
assert_eq "$(pl_ledger_count "rvd-$run" auth)" 0 "no second authorization"

# A debit naming an authorization Decision Manager rejected (481): refused, nothing sent — not an
# auth+capture of the card (never screened), even with the card in the request (seed 481: "the
# system deactivates the payment method on the order").
ord="RJ$run"
r=$(auth "rja-$run" 481.00 "$ord")
assert_json .status rejected "$r"
# The demo bureau has Send reversal: the reject's own reversal (<id>.rev) runs first, so the
# authorization is `reversed` when the debit comes, as in production.
auth_reversed() { [ "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="rja-$run")" = reversed ]; }
pl_eventually 60 auth_reversed || fail "the rejected authorization was not reversed"
pl_send deposit "$(debit "rjd-$run" 481.00 "$ord" "rja-$run" '.card = {number: "4111111111111111", exp_month: 12, exp_year: 2030}')"
r=$(pl_wait_reply deposit "rjd-$run" 60)
assert_json .status declined "$r"
assert_eq "$(pl_ledger_count "rjd-$run")" 0 "nothing sent for the debit of a rejected authorization"
assert_eq "$(pl_sql "SELECT status || '|' || coalesce(operation, '') FROM cc_deposit_trans WHERE request_id = :'id'" id="rjd-$run")" \
    "declined|" "the debit is declined without a call"

# ---- B.2 pay type without a vendor_paytype row -------------------------------------------------
ord="PT$run"
r=$(auth "pta-$run" 20.00 "$ord" '.pay_type = "ZZ"')
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT count(*) FROM vendor_paytype WHERE pay_type = 'ZZ'")" 0 "ZZ has no vendor_paytype row"
pl_send deposit "$(debit "ptd-$run" 20.00 "$ord" "pta-$run")"
r=$(pl_wait_reply deposit "ptd-$run" 60)
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT operation FROM cc_deposit_trans WHERE request_id = :'id'" id="ptd-$run")" \
    capture "a same-day authorization of an unconfigured pay type is captured"

# ---- B.5 references belong to the order ------------------------------------------------------
own="OW$run" other="OT$run"
r=$(auth "owa-$run" 50.00 "$own")
assert_json .status approved "$r"
pl_send deposit "$(debit "xd-$run" 50.00 "$other" "owa-$run")"
r=$(pl_wait_reply deposit "xd-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.request_id "$r"
pl_dlq deposit "xd-$run" >/dev/null || fail "no dead letter for the foreign debit"
assert_eq "$(pl_sql "SELECT count(*) FROM cc_deposit_trans WHERE request_id = :'id'" id="xd-$run")" 0 "nothing recorded"
assert_eq "$(pl_ledger_count "xd-$run")" 0 "nothing sent"
# Its own order's authorization, in another currency: invalid, nothing sent.
pl_send deposit "$(debit "xe-$run" 50.00 "$own" "owa-$run" | jq -c '.currency = "EUR"')"
r=$(pl_wait_reply deposit "xe-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.request_id "$r"
assert_eq "$(pl_ledger_count "xe-$run")" 0 "nothing sent"
# The same authorization by its transaction id, inline, from another order.
tid=$(pl_sql "SELECT transaction_id FROM cc_auth_trans WHERE request_id = :'id'" id="owa-$run")
pl_send deposit "$(pl_request debit "xt-$run" 50.00 "del(.mode) | .order = \"$other\" | .auth_ref = {transaction_id: \"$tid\", number: \"A1\", amount: \"50.00\", date: \"$(date -u +%F)\"}")"
r=$(pl_wait_reply deposit "xt-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.transaction_id "$r"
assert_eq "$(pl_ledger_count "xt-$run")" 0 "nothing sent"
# A reversal of another order's authorization.
pl_send reversal "$(jq -nc --arg id "xr-$run" --arg order "$other" --arg a "owa-$run" '{v: 1,
    request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1, service: "CYB",
    amount: "50.00", currency: "USD", auth_ref: {request_id: $a}}')"
r=$(pl_wait_reply reversal "xr-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.request_id "$r"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_reversal WHERE request_id = :'id'" id="xr-$run")" 0 "nothing recorded"
# A credit of another order's debit.
pl_send deposit "$(debit "owd-$run" 50.00 "$own" "owa-$run")"
r=$(pl_wait_reply deposit "owd-$run" 60)
assert_json .status approved "$r"
pl_send deposit "$(credit "xc-$run" 10.00 "$other" "owd-$run")"
r=$(pl_wait_reply deposit "xc-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' capture_ref.request_id "$r"
# Follow-on credits: at most the captured amount less earlier credits.
pl_send deposit "$(credit "oc1-$run" 30.00 "$own" "owd-$run")"
r=$(pl_wait_reply deposit "oc1-$run" 60)
assert_json .status approved "$r"
pl_send deposit "$(credit "oc2-$run" 20.01 "$own" "owd-$run")"
r=$(pl_wait_reply deposit "oc2-$run" 60)
assert_json .status declined "$r"
# Siebel message 16 first, unchanged, then why and how much the debit has left to refund.
assert_json .message "A credit or refund is only allowed when there is a corresponding settlement transaction referenced. Only 20.00 USD of the debit is left to refund now: credit at most that." "$r"
assert_eq "$(pl_ledger_count "oc2-$run")" 0 "an over-refund is never sent"
pl_send deposit "$(credit "oc3-$run" 20.00 "$own" "owd-$run")"
r=$(pl_wait_reply deposit "oc3-$run" 60)
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT amount_credited FROM cc_deposit_trans WHERE request_id = :'id'" id="owd-$run")" \
    50.00 "the debit is fully refunded"

# ---- B.4 manual authorizations carry number, amount, date and transaction id -------------------
pl_send deposit "$(pl_request debit "md-$run" 10.00 "del(.mode) | .auth_ref = {transaction_id: \"4036289939370176056470\", number: \"A1\", amount: \"10.00\"}")"
r=$(pl_wait_reply deposit "md-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.date "$r"
assert_eq "$(pl_ledger_count "md-$run")" 0 "nothing sent"

# An inline reference (transaction id, number, amount, date) to an authorization paylink holds is
# that authorization: captured as by its request id, claimed and settled on its auth_history row,
# so a reversal of it afterwards is refused (captured), not sent.
ord="IL$run"
r=$(auth "ila-$run" 100.00 "$ord")
assert_json .status approved "$r"
inline=$(jq -c '{transaction_id: .auth.transaction_id, number: .auth.number, amount: .amount_approved, date: .auth.date[0:10]}' <<<"$r")
pl_send deposit "$(debit "ild-$run" 100.00 "$ord" "" ".auth_ref = $inline")"
r=$(pl_wait_reply deposit "ild-$run" 60)
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT d.operation || '|' || (d.auth_history_id = h.id) || '|' || h.amount_deposited || '|' || h.amount_pending FROM cc_deposit_trans d JOIN auth_history h ON h.request_id = :'a' WHERE d.request_id = :'id'" id="ild-$run" a="ila-$run")" \
    "capture|true|100.00|0.00" "the inline reference settles paylink's authorization"
pl_send reversal "$(jq -nc --arg id "ilr-$run" --arg order "$ord" --arg a "ila-$run" '{v: 1, request_id: $id,
    type: "reversal", company: 1, order: $order, pay_seq: 1, service: "CYB", amount: "100.00",
    currency: "USD", auth_ref: {request_id: $a}}')"
r=$(pl_wait_reply reversal "ilr-$run" 60)
assert_json .status declined "$r"
assert_eq "$(pl_ledger_count "ilr-$run")" 0 "no reversal of the captured authorization sent"

# ---- B.6 Siebel AuthCharge: a debit with the card and no auth_ref ------------------------------
pl_send deposit "$(pl_request debit "ac-$run" 42.00 'del(.mode)')"
r=$(pl_wait_reply deposit "ac-$run" 60)
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT operation || '|' || deposit_reason FROM cc_deposit_trans WHERE request_id = :'id'" id="ac-$run")" \
    "auth_capture|no_authorization" "one authorization and capture"
assert_eq "$(pl_ledger_count "ac-$run" auth)|$(pl_ledger_count "ac-$run" capture)" "1|1" "authorized and captured in one request"

# A soft-declined auth+capture (230: the issuer approved, CyberSource declined, nothing captured):
# the order system is told `declined`, and the authorization it made is reversed ("<id>.sdr", by
# its transaction id) so the cardholder's funds are not held until it expires.
sd="acsd-$run"
pl_sim_soft_decline "$sd" 230
pl_send deposit "$(pl_request debit "$sd" 43.00 'del(.mode)')"
r=$(pl_wait_reply deposit "$sd" 60) || fail "no deposit reply for $sd"
assert_json .status declined "$r"
assert_json .vendor_response 230 "$r"
sdtid=$(jq -r .auth.transaction_id <<<"$r")
assert_eq "$(pl_ledger_count "$sd" auth)|$(pl_ledger_count "$sd" capture)" "1|0" "authorized, not captured"
r=$(pl_wait_reply reversal "$sd.sdr" 60) || fail "no reversal reply for $sd.sdr"
assert_json .status approved "$r"
assert_json .amount_approved 43.00 "$r"
assert_eq "$(pl_ledger | jq -r --arg id "$sd.sdr" '[.[] | select(.op == "reversal" and .ref == $id) | .amount] | join(",")')" \
    43.00 "the bureau reversed the soft-declined authorization"
assert_eq "$(pl_sql "SELECT auth_transaction_id FROM auth_reversal WHERE request_id = :'id'" id="$sd.sdr")" \
    "$sdtid" "the reversal names the authorization by its transaction id"
assert_eq "$(pl_sql "SELECT r.merchant_id = d.merchant_id AND d.merchant_id <> '' FROM auth_reversal r, cc_deposit_trans d WHERE r.request_id = :'id' AND d.request_id = :'d'" id="$sd.sdr" d="$sd")" \
    t "the reversal goes under the merchant ID the auth+capture was sent with"

# ---- B.7 0.00 is no deposit, refund or reversal ------------------------------------------------
pl_send deposit "$(pl_debit "z-$run" 0.00 "$own" "owa-$run")"
r=$(pl_wait_reply deposit "z-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' amount "$r"

# ---- B.7 token requests and Request token -----------------------------------------------------
pl_clone_bureau CYBT '{"request_token": false}'
pl_send auth "$(pl_request token "tk-$run" 1.00 '.service = "CYBT"')"
r=$(pl_wait_reply auth "tk-$run" 60)
assert_json .status declined "$r"
# Siebel message 18 (issue 6 B.7): not authorized to perform this transaction type.
assert_json .message "You are not authorized to perform this transaction type." "$r"
assert_eq "$(pl_ledger_count "tk-$run")" 0 "nothing sent to the bureau"
pl_send auth "$(pl_request token "tk2-$run" 1.00)"
r=$(pl_wait_reply auth "tk2-$run" 60)
assert_json .status approved "$r"
# A debit naming the token request: it authorized no amount, so the debit is authorized anew with
# the capture on its token (before: a capture whose claim never fit, prepared again five times,
# then `error`).
tko=$(pl_sql "SELECT order_number FROM cc_auth_trans WHERE request_id = :'id'" id="tk2-$run")
pl_send deposit "$(pl_debit "tkd-$run" 1.00 "$tko" "tk2-$run")"
r=$(pl_wait_reply deposit "tkd-$run" 60)
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT operation || '|' || deposit_reason FROM cc_deposit_trans WHERE request_id = :'id'" id="tkd-$run")" \
    "auth_capture|no_authorization" "a debit of a token request is an auth+capture"

# ---- a debit naming an authorization whose outcome is not known yet ------------------------------
# The bureau applied it, its answer was lost (905: timeout, required response): it may hold the
# funds, so a debit naming it is not authorized anew with its card (the card would carry both
# holds, and nothing would void the first); `error`, nothing sent, to be sent again once the
# authorization is settled.
ou="UK$run"
r=$(auth "uka-$run" 905.00 "$ou")
assert_json .status timeout "$r"
pl_send deposit "$(pl_debit "ukd-$run" 50.00 "$ou" "uka-$run" '. + {card: {number: "4111111111111111", exp_month: 12, exp_year: 2030, type: "VI"}}')"
r=$(pl_wait_reply deposit "ukd-$run" 60)
assert_json .status error "$r"
assert_contains "$(jq -r .message <<<"$r")" "outcome is not known yet" "why"
assert_eq "$(pl_ledger_count "ukd-$run")" 0 "nothing sent to the bureau"
assert_eq "$(pl_sql "SELECT status || '|' || (sent_at IS NULL) FROM cc_deposit_trans WHERE request_id = :'id'" id="ukd-$run")" \
    "error|true" "the row: error, never sent"

pass "deposit and reversal money rules"
