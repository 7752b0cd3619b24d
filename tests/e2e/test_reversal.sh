#!/usr/bin/env bash
# paylink-reversal end to end: an authorization through paylink-auth, its reversal
# (ccAuthReversalService) through paylink-reversal, and what the simulator's ledger, auth_history
# and auth_reversal say afterwards. Also: a second reversal of the same authorization (refused by
# paylink from its records, vendor_response 237, no bureau call), a redelivered reversal
# (replayed, reversed once), the Decision Manager reject flow (481 → "<id>.rev" → reversed), a
# CyberSource soft decline (230, the issuer approved: "<id>.rev" → reversed; a hard decline: none), a
# manual authorization given inline by transaction id, an unknown authorization, an invalid
# request (invalid + dead letter), and a reversal naming less than its authorization (the whole
# authorized amount is sent).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)

# reversal_request REQUEST_ID ORDER AMOUNT AUTH_REF_JSON: a reversal request of order ORDER.
reversal_request() {
    jq -nc --arg id "$1" --arg order "$2" --arg amount "$3" --argjson ref "$4" '{
        v: 1, request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1,
        service: "CYB", amount: $amount, currency: "USD", auth_ref: $ref}'
}

# ---- a reversal naming less than the authorization: the whole authorization is reversed ---------
# (paylink records it reversed whole, as CyberSource's full authorization reversal does): the
# authorized amount goes to the bureau, whatever the request's amount says.
pid="rvp-$run"
preq=$(pl_request auth "$pid" 100.00)
porder=$(jq -r .order <<<"$preq")
pl_send auth "$preq"
r=$(pl_wait_reply auth "$pid" 60) || fail "no auth reply for $pid"
assert_json .status approved "$r"
rvp="rvpr-$run"
pl_send reversal "$(reversal_request "$rvp" "$porder" 40.00 "$(jq -nc --arg id "$pid" '{request_id: $id}')")"
r=$(pl_wait_reply reversal "$rvp" 60) || fail "no reversal reply for $rvp"
assert_json .status approved "$r"
assert_json .amount_requested 40.00 "$r"
assert_json .amount_approved 100.00 "$r"
assert_eq "$(pl_ledger | jq -r --arg id "$rvp" '[.[] | select(.op == "reversal" and .ref == $id) | .amount] | join(",")')" \
    100.00 "the bureau reversed the authorized 100.00"
assert_eq "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="$pid")" \
    reversed "the authorization is reversed"

# ---- an approved authorization, reversed ------------------------------------------------------
aid="rva-$run"
areq=$(pl_request auth "$aid" 120.00)
order=$(jq -r .order <<<"$areq")
pl_send auth "$areq"
ar=$(pl_wait_reply auth "$aid" 60) || fail "no auth reply for $aid"
assert_json .status approved "$ar"
atid=$(jq -r .auth.transaction_id <<<"$ar")

rv1="rv1-$run"
rreq=$(reversal_request "$rv1" "$order" 120.00 "$(jq -nc --arg id "$aid" '{request_id: $id}')")
pl_send reversal "$rreq"
r=$(pl_wait_reply reversal "$rv1" 60) || fail "no reversal reply for $rv1"
assert_json .status approved "$r"
assert_json .type reversal "$r"
assert_json .vendor_response 100 "$r"
assert_json .decision ACCEPT "$r"
assert_json .amount_requested 120.00 "$r"
assert_json .amount_approved 120.00 "$r"
assert_ne "$(jq -r '.auth.transaction_id // ""' <<<"$r")" "" "the reversal's bureau transaction id"
assert_ne "$(jq -r '.auth.transaction_id' <<<"$r")" "$atid" "the reversal has its own transaction id"
assert_eq "$(pl_ledger_count "$rv1" reversal)" 1 "one reversal in the ledger for $rv1"
assert_eq "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="$aid")" \
    reversed "auth_history row of the reversed authorization"
assert_eq "$(pl_sql "SELECT r.status || '|' || r.operation || '|' || r.auth_request_id || '|' || r.auth_transaction_id || '|' || r.amount_reversed || '|' || (r.auth_history_id = h.id) || '|' || (r.transaction_id <> '') || '|' || (r.merchant_id <> '') FROM auth_reversal r JOIN auth_history h ON h.request_id = r.auth_request_id WHERE r.request_id = :'id'" id="$rv1")" \
    "approved|reversal|$aid|$atid|120.00|true|true|true" "auth_reversal row"
assert_eq "$(pl_sql "SELECT kind || '|' || status || '|' || amount_approved || '|' || card_masked FROM order_reversal_history WHERE company = 1 AND order_number = :'o'" o="$order")" \
    "reversal|approved|120.00|411111******1111" "order_reversal_history"

# ---- a second reversal of the same authorization: refused from our records, no bureau call ----
rv2="rv2-$run"
pl_send reversal "$(reversal_request "$rv2" "$order" 120.00 "$(jq -nc --arg id "$aid" '{request_id: $id}')")"
r=$(pl_wait_reply reversal "$rv2" 60) || fail "no reversal reply for $rv2"
assert_json .status declined "$r"
assert_json .vendor_response 237 "$r"
assert_contains "$(jq -r .message <<<"$r")" "already reversed" "message"
assert_eq "$(pl_ledger_count "$rv2")" 0 "nothing sent to the bureau for $rv2"
assert_eq "$(pl_sql "SELECT status || '|' || operation || '|' || vendor_response FROM auth_reversal WHERE request_id = :'id'" id="$rv2")" \
    "declined||237" "refused auth_reversal row"
assert_eq "$(pl_ledger_count "$rv1" reversal)" 1 "still one reversal for the authorization"

# ---- the same reversal request again: the stored reply, replayed; reversed once -----------------
pl_send reversal "$rreq"
r=$(pl_wait_reply_nth reversal "$rv1" 2 60) || fail "no second reply for $rv1"
assert_json .replayed true "$r"
assert_json .status approved "$r"
assert_json .amount_approved 120.00 "$r"
assert_eq "$(pl_ledger_count "$rv1" reversal)" 1 "the redelivered reversal was not sent again"

# ---- Decision Manager reject: paylink-auth asks for the reversal, paylink-reversal does it ------
dm="rvdm-$run"
pl_send auth "$(pl_request auth "$dm" 481.00)"
r=$(pl_wait_reply auth "$dm" 60) || fail "no auth reply for $dm"
assert_json .status rejected "$r"
assert_json .vendor_response 481 "$r"
r=$(pl_wait_reply reversal "$dm.rev" 60) || fail "no reversal reply for $dm.rev"
assert_json .status approved "$r"
assert_json .amount_approved 481.00 "$r"
assert_eq "$(pl_ledger_count "$dm.rev" reversal)" 1 "one reversal in the ledger for $dm.rev"
assert_eq "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="$dm")" \
    reversed "the rejected authorization is reversed"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$dm")" \
    rejected "the authorization request keeps its outcome"

# ---- a soft decline: the issuer approved, CyberSource declined (230); paylink reverses it ---------
# The simulator's /__sim/cyb/soft_decline arms it for one merchantReferenceCode (the amounts'
# scenarios are the contract's). The order system is told `declined`; paylink-auth publishes
# "<id>.rev" (Send reversal is on for CYB) and paylink-reversal releases the funds the issuer holds.
sd="rvsd-$run"
pl_sim_soft_decline "$sd" 230
pl_send auth "$(pl_request auth "$sd" 77.00)"
r=$(pl_wait_reply auth "$sd" 60) || fail "no auth reply for $sd"
assert_json .status declined "$r"
assert_json .vendor_response 230 "$r"
assert_json .decision REJECT "$r"
r=$(pl_wait_reply reversal "$sd.rev" 60) || fail "no reversal reply for $sd.rev"
assert_json .status approved "$r"
assert_json .amount_approved 77.00 "$r"
assert_eq "$(pl_ledger_count "$sd.rev" reversal)" 1 "one reversal in the ledger for $sd.rev"
assert_eq "$(pl_sql "SELECT status || '|' || vendor_response FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="$sd")" \
    "reversed|230" "the soft-declined authorization is reversed"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$sd")" \
    declined "the authorization request keeps its outcome"
# A partial approval (110.00: the issuer held 55.00) soft-declined: the reversal is for what is
# held, not what was asked.
sp="rvsp-$run"
pl_sim_soft_decline "$sp" 200
pl_send auth "$(pl_request auth "$sp" 110.00)"
r=$(pl_wait_reply auth "$sp" 60) || fail "no auth reply for $sp"
assert_json .status declined "$r"
r=$(pl_wait_reply reversal "$sp.rev" 60) || fail "no reversal reply for $sp.rev"
assert_json .status approved "$r"
assert_json .amount_requested 55.00 "$r"
# A card verification (0.00) soft-declined holds nothing: no reversal (one of nothing would be
# refused as invalid, with a dead letter and an alert).
sz="rvsz-$run"
pl_sim_soft_decline "$sz" 230
pl_send auth "$(pl_request auth "$sz" 0.00)"
r=$(pl_wait_reply auth "$sz" 60) || fail "no auth reply for $sz"
assert_json .status declined "$r"
assert_json .vendor_response 230 "$r"
assert_eq "$(pl_sql "SELECT coalesce(nullif(followups::text, '[]'), 'none') FROM cc_auth_trans WHERE request_id = :'id'" id="$sz")" \
    none "no reversal follows a soft-declined verification"
# A hard decline (203) holds nothing: no reversal is asked for.
hd="rvhd-$run"
pl_send auth "$(pl_request auth "$hd" 203.00)"
r=$(pl_wait_reply auth "$hd" 60) || fail "no auth reply for $hd"
assert_json .status declined "$r"
assert_eq "$(pl_sql "SELECT coalesce(nullif(followups::text, '[]'), 'none') FROM cc_auth_trans WHERE request_id = :'id'" id="$hd")" \
    none "no reversal follows a hard decline"

# ---- a manual authorization given inline: found by its transaction id ---------------------------
mid="rvm-$run"
mreq=$(pl_request auth "$mid" 130.00)
morder=$(jq -r .order <<<"$mreq")
pl_send auth "$mreq"
r=$(pl_wait_reply auth "$mid" 60) || fail "no auth reply for $mid"
assert_json .status approved "$r"
ref=$(jq -c '{transaction_id: .auth.transaction_id, request_token: .auth.request_token,
              number: .auth.number, amount: .amount_approved, date: .auth.date[0:10]}
              | with_entries(select(.value != null))' <<<"$r")
rv3="rv3-$run"
pl_send reversal "$(reversal_request "$rv3" "$morder" 130.00 "$ref")"
r=$(pl_wait_reply reversal "$rv3" 60) || fail "no reversal reply for $rv3"
assert_json .status approved "$r"
assert_eq "$(pl_ledger_count "$rv3" reversal)" 1 "one reversal in the ledger for $rv3"
assert_eq "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="$mid")" \
    reversed "the authorization found by transaction id is reversed"
assert_eq "$(pl_sql "SELECT auth_request_id FROM auth_reversal WHERE request_id = :'id'" id="$rv3")" \
    "$mid" "the reversal row names the paylink authorization"

# ---- an authorization paylink does not know: refused, no bureau call ------------------------------
rv4="rv4-$run"
pl_send reversal "$(reversal_request "$rv4" "$order" 10.00 '{"request_id": "no-such-auth"}')"
r=$(pl_wait_reply reversal "$rv4" 60) || fail "no reversal reply for $rv4"
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "not known" "message"
assert_eq "$(pl_ledger_count "$rv4")" 0 "nothing sent to the bureau for $rv4"

# ---- invalid: no auth_ref → invalid reply and a dead letter ----------------------------------------
bad="rvbad-$run"
pl_send reversal "$(reversal_request "$bad" "$order" 120.00 'null' | jq -c 'del(.auth_ref)')"
r=$(pl_wait_reply reversal "$bad" 60) || fail "no reversal reply for $bad"
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref "$r"
pl_dlq reversal "$bad" 30 >/dev/null || fail "no dead letter for $bad"
pass "dead letter for $bad"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_reversal WHERE request_id = :'id'" id="$bad")" 0 \
    "nothing recorded for the invalid request"

assert_logs_clean
