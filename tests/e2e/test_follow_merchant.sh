#!/usr/bin/env bash
# A call on an earlier transaction goes under the merchant ID that transaction was sent with
# (pl_job_follow_merchant), whatever the configuration says by then: the bureau finds a
# transaction within its merchant only.
#   - a Decision Manager reject (481) of an authorization sent under its entity's merchant ID
#     (merchant_id_override), whose reversal paylink-auth publishes itself (`<request_id>.rev`,
#     without the entity): that reversal goes under the authorization's merchant ID; so does the
#     reversal (`.sdr`) of the authorization a soft-declined auth+capture made;
#   - a Visa authorization sent while pay type VI has a merchant ID of its own (vendor_paytype);
#     the merchant ID is then taken off the pay type (every worker restarted with it): the
#     capture of that authorization, and the credit of that capture, still go under the merchant
#     ID the authorization was sent with, and so does an auth+capture of that authorization's
#     token, also once an operator resubmitted it (`deposits resubmit`); an auth+capture with a
#     card of its own (a new authorization) goes under the hierarchy's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
m="pl_fm_$run" mw="pl_fw_$run" ent="W$run"
col() { pl_sql "SELECT $1 FROM $2 WHERE request_id = :'id'" id="$3"; }
restart() { for w in "$@"; do pl_worker_stop "$w" && pl_worker_start "$w"; done; }
set_vi() {
    pl_sql "UPDATE vendor_paytype SET merchant_id = :'m' WHERE service_bureau = 'CYB' AND pay_type = 'VI'" m="$1" >/dev/null
}
pl_on_exit "pl_sql \"DELETE FROM merchant_id_override WHERE company = 1 AND entity = '$ent'\" >/dev/null"
pl_on_exit '[ -z "${vi_set:-}" ] || { set_vi ""; restart auth deposit reversal; }'

# ---- a reject's reversal, published by paylink-auth without the entity -------------------------
pl_sql "INSERT INTO merchant_id_override (company, entity, service_bureau, merchant_id)
    VALUES (1, :'e', 'CYB', :'m')" e="$ent" m="$mw" >/dev/null
restart auth
a2="fmr-$run" o2="FR$run"
r=$(pl_auth_reply "$a2" 481.00 "$o2" ".entity = \"$ent\"")
assert_json .status rejected "$r"
assert_eq "$(col merchant_id cc_auth_trans "$a2")" "$mw" "$a2 sent under its entity's merchant ID"
r=$(pl_wait_reply reversal "$a2.rev" 60) || fail "no reply for the reversal $a2.rev"
assert_json .status approved "$r"
assert_eq "$(col merchant_id auth_reversal "$a2.rev")" "$mw" "the reject's reversal under its authorization's merchant ID"
# A soft-declined auth+capture sent under its entity's merchant ID: the reversal paylink-deposit
# publishes of the authorization it made (`.sdr`, a manual authorization by transaction id, no
# entity) goes under the merchant ID the auth+capture was sent with.
sd="fms-$run"
pl_sim_soft_decline "$sd" 230
restart deposit
pl_send deposit "$(pl_request debit "$sd" 44.00 "del(.mode) | .entity = \"$ent\"")"
r=$(pl_wait_reply deposit "$sd" 60) || fail "no reply for $sd"
assert_json .status declined "$r"
assert_eq "$(col merchant_id cc_deposit_trans "$sd")" "$mw" "$sd sent under its entity's merchant ID"
r=$(pl_wait_reply reversal "$sd.sdr" 60) || fail "no reply for the reversal $sd.sdr"
assert_json .status approved "$r"
assert_eq "$(col merchant_id auth_reversal "$sd.sdr")" "$mw" "the soft decline's reversal under the auth+capture's merchant ID"

# ---- a capture and its credit after the pay type's merchant ID changed ---------------------------
vi_set=1
set_vi "$m"
restart auth
a1="fma-$run" o1="FA$run"
r=$(pl_auth_reply "$a1" 60.00 "$o1")
assert_json .status approved "$r"
assert_eq "$(col merchant_id cc_auth_trans "$a1")" "$m" "$a1 sent under the pay type's merchant ID"

# The pay type's merchant ID taken off: the hierarchy now gives the bureau's.
set_vi ""
restart auth deposit reversal
vi_set=
bureau_m=$(pl_sql "SELECT merchant_id FROM auth_service WHERE service_bureau = 'CYB'")
assert_ne "$bureau_m" "$m" "the bureau's merchant ID is another"
# deposit ID MESSAGE WANT WHAT: sends MESSAGE (deposit ID), which must be approved and recorded
# with operation|merchant_id WANT.
deposit() {
    pl_send deposit "$2"
    r=$(pl_wait_reply deposit "$1" 60) || fail "no reply for $1"
    assert_json .status approved "$r"
    assert_eq "$(col "operation || '|' || merchant_id" cc_deposit_trans "$1")" "$3" "$4"
}
d1="fmd-$run"
deposit "$d1" "$(pl_debit "$d1" 60.00 "$o1" "$a1")" "capture|$m" \
    "the capture under its authorization's merchant ID"
c1="fmc-$run"
deposit "$c1" "$(jq -nc --arg id "$c1" --arg o "$o1" --arg d "$d1" '{v: 1, request_id: $id,
    type: "credit", company: 1, order: $o, pay_seq: 1, service: "CYB", amount: "10.00",
    currency: "USD", capture_ref: {request_id: $d}}')" "credit|$m" \
    "the credit under its debit's merchant ID"
# A debit over what the authorization has left, naming it without a card: an auth+capture of the
# authorization's token, which the bureau holds under the authorization's merchant ID.
d3="fmt-$run"
deposit "$d3" "$(pl_debit "$d3" 30.00 "$o1" "$a1")" "auth_capture|$m" \
    "an auth+capture of the authorization's token under its merchant ID"
# Declined, then resubmitted by an operator (`paylinkctl deposits resubmit`): the new request names
# the authorization, not the token the debit borrowed from it, so it borrows it again and goes
# under that authorization's merchant ID too. Before, it carried the token as its own and went
# under the hierarchy's, where the bureau does not hold that token.
d4="fmx-$run"
pl_send deposit "$(pl_debit "$d4" 204.00 "$o1" "$a1")"
r=$(pl_wait_reply deposit "$d4" 60) || fail "no reply for $d4"
assert_json .status declined "$r"
assert_eq "$(col "operation || '|' || merchant_id" cc_deposit_trans "$d4")" "auth_capture|$m" \
    "the declined auth+capture under the authorization's merchant ID"
"$PL_CTL" deposits resubmit --request-id "$d4" --by ops-fm >/dev/null
r=$(pl_wait_reply deposit "$d4.r1" 60) || fail "no reply for $d4.r1"
assert_json .status declined "$r"
assert_eq "$(col "operation || '|' || merchant_id" cc_deposit_trans "$d4.r1")" "auth_capture|$m" \
    "the resubmitted auth+capture under the authorization's merchant ID"
# A debit with a card of its own and no authorization: a new authorization, the hierarchy's.
d2="fmn-$run"
deposit "$d2" "$(pl_request debit "$d2" 20.00)" "auth_capture|$bureau_m" \
    "an auth+capture under the hierarchy's merchant ID"
pass "follow-on calls go under the merchant ID of what they follow"
