#!/usr/bin/env bash
# paylink-svc end to end (issue 8; seed customer-engagement-stored-value-card.txt): one virtual
# stored value card through Kafka, paylink-svc (and paylink-reversal for the void) and the
# simulator's Customer Engagement endpoint, checked in the replies, svc_trans,
# stored_value_card, auth_reversal and the simulator's ledger:
#   generate a virtual card (its number in the reply once, masked everywhere else, also in the
#   replay of the same request); its balance before activation ("The card is inactive");
#   activate it for 50.00 (a Recharge: it is virtual), a second activation declined without a
#   call; balance 50.00; authorize 20.00; deposit
#   20.00; balance 30.00; authorize 100.00 → approved for 30.00 with the insufficient-balance
#   message; a deposit greater than that authorization → declined without a bureau call; return
#   10.00; void the 30.00 authorization through paylink-reversal (and a second void: nothing
#   left, no call); balance 40.00; an authorization of 15.00 deposited (10.00) and voided by its
#   SVATransactionID alone, claimed and settled as by request id (5.01 more declined, no call);
#   returns naming the 20.00 deposit they refund (capture_ref): 15.00 and 5.00 go, 0.01 more,
#   another card's, an authorization named as the deposit, a deposit not approved are declined
#   without a call, another order's deposit is invalid;
#   the card number in no log, row or topic paylink writes but the one reply.
# The faults (card series exhausted, bureau unreachable, timeouts) are in test_svc_faults.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
order="SV$run"

# svc_request ID TYPE [AMOUNT] [JQ_FILTER]: a stored value request of ORDER (company 1, RLT);
# svc ID TYPE [AMOUNT] [JQ_FILTER] sends it and prints the reply.
svc_request() { pl_svc_request "$1" "$2" "$order" "${3:-}" "${4:-.}"; }
svc() { pl_svc_reply "$1" "$2" "$order" "${3:-}" "${4:-.}"; }
with_card() { echo ".svc = {card_number: \"$card\"} ${1:+| $1}"; }
col() { pl_sql "SELECT $1 FROM svc_trans WHERE request_id = :'id'" id="$2"; }
generated_before=$(pl_ledger | jq '[.[] | select(.protocol == "RLT" and .op == "generate")] | length')

# ---- generate a virtual card ------------------------------------------------------------------
gen="svg-$run"
greq=$(svc_request "$gen" generate "" '.svc = {order_line: 1, issue_amount: "50.00", virtual: true}')
pl_send svc "$greq"
r=$(pl_wait_reply svc "$gen" 60) || fail "no reply for $gen"
assert_json .status approved "$r"
assert_json .type generate "$r"
card=$(jq -r '.svc.card_number // ""' <<<"$r")
[[ $card =~ ^[0-9]{10,20}$ ]] || fail "the generate reply carries no card number: $r"
pass "the generate reply carries the new card number in full (${#card} digits)"
mask=$(sed -E 's/[0-9]/*/g' <<<"${card:0:${#card}-4}")${card: -4}
assert_json .card.masked "$mask" "$r"
assert_json .vendor_response OK "$r"
# Tailing the reply topic (no --request-id) masks it: an operator's terminal gets no new number.
tailed=$("$PL_CTL" tail --worker svc --from-beginning --timeout 5 2>/dev/null || true)
assert_contains "$tailed" "$gen" "the tail of the reply topic"
assert_not_contains "$tailed" "$card" "the tail of the reply topic"
assert_eq "$(pl_ledger | jq '[.[] | select(.protocol == "RLT" and .op == "generate")] | length')" \
    $((generated_before + 1)) "one GenerateCard in the simulator's ledger"
assert_eq "$(col "status || '|' || card_masked || '|' || (card_hash ~ '^[0-9a-f]{64}$') || '|' || operation || '|' || (reply -> 'svc' ->> 'card_number')" "$gen")" \
    "approved|$mask|true|svc_generate|$mask" "svc_trans holds the card masked and hashed, the stored reply masked"
assert_eq "$(pl_sql "SELECT status || '|' || virtual || '|' || card_prefix || '|' || card_series || '|' || issue_amount || '|' || order_number || '|' || order_line || '|' || card_masked || '|' || (card_hash = (SELECT card_hash FROM svc_trans WHERE request_id = :'id')) FROM stored_value_card WHERE generated_by = :'id'" id="$gen")" \
    "generated|true|85749|06|50.00|$order|1|$mask|true" "stored_value_card row of the generated card"

# The same request again: its stored reply, the number masked; no second GenerateCard.
pl_send svc "$greq"
r=$(pl_wait_reply_nth svc "$gen" 2 60) || fail "no second reply for $gen"
assert_json .replayed true "$r"
assert_json .svc.card_number "$mask" "$r"
assert_eq "$(pl_ledger | jq '[.[] | select(.protocol == "RLT" and .op == "generate")] | length')" \
    $((generated_before + 1)) "the replay generated nothing"
assert_eq "$(pl_replies svc "$gen" | grep -cF -- "$card" || true)" 1 "the full number went out in one reply"
grep -F -- "$gen" "$PAYLINK_LOG_DIR/paylink-svc.log" | grep -qF -- "$mask" ||
    fail "paylink-svc's log does not name the generated card masked"
pass "paylink-svc logs the generated card masked"

# Not activated yet: the bureau reports the card Inactive (seed: "The card is inactive").
r=$(svc "svb0-$run" balance "" "$(with_card)")
assert_json .status approved "$r"
assert_json .message "The card is inactive" "$r"
assert_json .svc.balance 0.00 "$r"

# ---- activated for another amount than it was issued for: declined, nothing loaded -------------
# (seed: an activation's amount is the card's Issue amount; the generate recorded 50.00.)
for amt in 60.00 40.00; do
    r=$(svc "svx${amt%.*}-$run" activate "$amt" "$(with_card '.svc += {order_line: 1, issue_amount: "50.00", virtual: true}')")
    assert_json .status declined "$r"
    assert_contains "$(jq -r .message <<<"$r")" "The activation amount ($amt) is not the card's issue amount (50.00)" "message"
done
assert_eq "$(pl_ledger_count "$order" recharge)" 0 "no Recharge for either"
assert_eq "$(pl_sql "SELECT status || '|' || coalesce(activation_pending, 'none') FROM stored_value_card WHERE generated_by = :'id'" id="$gen")" \
    "generated|none" "the card is still to be activated, held by none"
pass "a card is activated for its issue amount or not at all"

# ---- activate it for 50.00: a virtual card is activated with a Recharge request -------------
act="sva-$run"
r=$(svc "$act" activate 50.00 "$(with_card '.svc += {order_line: 1, issue_amount: "50.00", virtual: true}')")
assert_json .status approved "$r"
assert_json .amount_approved 50.00 "$r"
assert_json .vendor_response R08 "$r"
assert_json .card.masked "$mask" "$r"
assert_eq "$(pl_ledger_count "$order" recharge)" 1 "one Recharge in the ledger"
assert_eq "$(pl_ledger_count "$order" activate)" 0 "no ActivateInstrument for a virtual card"
assert_eq "$(col "operation || '|' || amount_approved || '|' || card_masked" "$act")" \
    "svc_recharge|50.00|$mask" "svc_trans row of the activation"
assert_eq "$(pl_sql "SELECT status || '|' || activated_by || '|' || (activation_date IS NOT NULL) || '|' || response_code || '|' || coalesce(activation_pending, 'none') FROM stored_value_card WHERE generated_by = :'id'" id="$gen")" \
    "active|$act|true|R08|none" "the card is active, no activation pending"

# Activated again under another request id (an upstream retry with a fresh id): declined without a
# call — a second Recharge would load the card twice (migration 043).
act2="sva2-$run"
r=$(svc "$act2" activate 50.00 "$(with_card '.svc += {order_line: 1, issue_amount: "50.00", virtual: true}')")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "already active" "message"
grep -F -- "$act2" "$PAYLINK_LOG_DIR/paylink-svc.log" | grep -qF -- "activated by $act" ||
    fail "paylink-svc's log does not name the activation that made the card active"
pass "paylink-svc's log names the activation that made the card active"
assert_eq "$(pl_ledger_count "$order" recharge)" 1 "no second Recharge"
assert_eq "$(col "status || '|' || operation" "$act2")" "declined|" "svc_trans row of the refused activation"

# A generate naming a card (the active one) in svc.card_number: the number is the bureau's to give;
# the new card gets its own row, the named one keeps its own (before, it was taken over).
gen2="svg2-$run"
r=$(svc "$gen2" generate "" "$(with_card '.svc += {order_line: 2, issue_amount: "5.00", virtual: true}')")
assert_json .status approved "$r"
card2=$(jq -r .svc.card_number <<<"$r")
assert_ne "$card2" "$card" "a new number"
mask2=$(sed -E 's/[0-9]/*/g' <<<"${card2:0:${#card2}-4}")${card2: -4}
assert_eq "$(pl_sql "SELECT status || '|' || card_masked || '|' || order_line FROM stored_value_card WHERE generated_by = :'id'" id="$gen2")" \
    "generated|$mask2|2" "the new card's own row"
assert_eq "$(col card_masked "$gen2")" "$mask2" "svc_trans names the new card"
assert_eq "$(pl_sql "SELECT status || '|' || activated_by || '|' || order_line FROM stored_value_card WHERE generated_by = :'id'" id="$gen")" \
    "active|$act|1" "the named card's row is untouched"

# ---- balance 50.00 ------------------------------------------------------------------------------
r=$(svc "svb1-$run" balance "" "$(with_card)")
assert_json .status approved "$r"
assert_json .svc.balance 50.00 "$r"
assert_json .vendor_response R16 "$r"
assert_eq "$(col "balance || '|' || operation" "svb1-$run")" "50.00|svc_inquiry" "balance stored"

# ---- authorize 20.00, deposit 20.00 ----------------------------------------------------------
a1="svp1-$run"
r=$(svc "$a1" auth 20.00 "$(with_card)")
assert_json .status approved "$r"
assert_json .amount_approved 20.00 "$r"
assert_json .vendor_response R24 "$r"
a1tid=$(jq -r '.auth.transaction_id // ""' <<<"$r")
assert_ne "$a1tid" "" "the authorization's SVATransactionID"
assert_ne "$(jq -r '.auth.number // ""' <<<"$r")" "" "the authorization's AuthNumber"
assert_eq "$(col "svc_transaction_id" "$a1")" "$a1tid" "svc_trans keeps the SVATransactionID"

d1="svd1-$run"
r=$(svc "$d1" deposit 20.00 "$(with_card ".auth_ref = {request_id: \"$a1\"}")")
assert_json .status approved "$r"
assert_json .amount_approved 20.00 "$r"
assert_json .vendor_response R26 "$r"
assert_eq "$(pl_ledger_count "$order" deposit)" 1 "one Postauthorization in the ledger"
assert_eq "$(pl_ledger | jq -r --arg o "$order" '[.[] | select(.ref == $o and .op == "deposit")][0].amount')" \
    20.00 "the ledger deposited 20.00"
assert_eq "$(col "operation || '|' || ref_request_id || '|' || claim_amount" "$d1")" \
    "svc_postauth|$a1|20.00" "the deposit names and claimed its authorization"
assert_eq "$(col "amount_deposited || '|' || amount_pending" "$a1")" "20.00|0.00" \
    "the authorization is deposited, its claim released"

r=$(svc "svb2-$run" balance "" "$(with_card)")
assert_json .svc.balance 30.00 "$r"

# ---- authorize 100.00: the card holds 30.00 → a partial approval --------------------------------
a2="svp2-$run"
r=$(svc "$a2" auth 100.00 "$(with_card)")
assert_json .status approved "$r"
assert_json .amount_requested 100.00 "$r"
assert_json .amount_approved 30.00 "$r"
assert_json .message "Insufficient balance on card - please add another payment" "$r"
assert_eq "$(col "status || '|' || amount || '|' || amount_approved" "$a2")" "approved|100.00|30.00" \
    "svc_trans row of the partial approval"

# ---- a deposit greater than the authorization: declined by paylink, no bureau call ---------------
d2="svd2-$run"
r=$(svc "$d2" deposit 30.01 "$(with_card ".auth_ref = {request_id: \"$a2\"}")")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "greater than what remains" "message"
assert_contains "$(jq -r .message <<<"$r")" "manually" "message"
assert_eq "$(pl_ledger_count "$order" deposit)" 1 "no Postauthorization sent for $d2"
assert_eq "$(col "status || '|' || operation || '|' || coalesce(claim_amount::text, 'none')" "$d2")" \
    "declined||none" "svc_trans row of the refused deposit"
assert_eq "$(col "amount_deposited || '|' || amount_pending" "$a2")" "0.00|0.00" "nothing taken from $a2"

# ---- return 10.00 -------------------------------------------------------------------------------
ret="svr-$run"
r=$(svc "$ret" return 10.00 "$(with_card)")
assert_json .status approved "$r"
assert_json .amount_approved 10.00 "$r"
assert_json .vendor_response R18 "$r"
assert_eq "$(pl_ledger_count "$order" return)" 1 "one Return in the ledger"

# ---- void the 30.00 authorization through paylink-reversal -------------------------------------------
void_request() { # ID AUTH_ID
    jq -nc --arg id "$1" --arg order "$order" --arg auth "$2" --arg card "$card" '{v: 1,
        request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1,
        service: "RLT", amount: "30.00", currency: "USD", auth_ref: {request_id: $auth},
        svc: {card_number: $card}}'
}
v1="svv1-$run"
pl_send reversal "$(void_request "$v1" "$a2")"
r=$(pl_wait_reply reversal "$v1" 60) || fail "no reversal reply for $v1"
assert_json .status approved "$r"
assert_json .type reversal "$r"
assert_json .amount_approved 30.00 "$r"
assert_json .vendor_response R22 "$r"
assert_ne "$(jq -r '.auth.transaction_id // ""' <<<"$r")" "" "the void's SVATransactionID"
assert_eq "$(pl_ledger_count "$order" void)" 1 "one Void in the ledger"
assert_eq "$(pl_ledger | jq -r --arg o "$order" '[.[] | select(.ref == $o and .op == "void")][0].amount')" \
    30.00 "the ledger released 30.00"
a2tid=$(col svc_transaction_id "$a2")
assert_eq "$(pl_sql "SELECT status || '|' || operation || '|' || auth_request_id || '|' || auth_transaction_id || '|' || amount_reversed || '|' || claim_amount FROM auth_reversal WHERE request_id = :'id'" id="$v1")" \
    "approved|svc_void|$a2|$a2tid|30.00|30.00" "auth_reversal row of the void"
assert_eq "$(col "amount_voided || '|' || amount_pending || '|' || amount_deposited" "$a2")" \
    "30.00|0.00|0.00" "the authorization is voided, its claim released"
assert_eq "$(pl_sql "SELECT operation || '|' || status || '|' || card_masked FROM order_reversal_history WHERE company = 1 AND order_number = :'o'" o="$order")" \
    "svc_void|approved|$mask" "order_reversal_history shows the void, card masked"

v2="svv2-$run"
pl_send reversal "$(void_request "$v2" "$a2")"
r=$(pl_wait_reply reversal "$v2" 60) || fail "no reversal reply for $v2"
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "Nothing of the authorization is left" "message"
assert_eq "$(pl_ledger_count "$order" void)" 1 "no second Void sent"

r=$(svc "svb3-$run" balance "" "$(with_card)")
assert_json .svc.balance 40.00 "$r"

# ---- a reference to another order: invalid, nothing recorded ------------------------------------
bad="svx-$run"
pl_send svc "$(svc_request "$bad" deposit 5.00 "$(with_card ".auth_ref = {request_id: \"$a1\"} | .order = \"X$run\"")")"
r=$(pl_wait_reply svc "$bad" 60) || fail "no reply for $bad"
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.request_id "$r"
pl_dlq svc "$bad" 30 >/dev/null || fail "no dead letter for $bad"
pass "dead letter for $bad"
assert_eq "$(col "count(*)" "$bad")" 0 "nothing recorded for $bad"
# Its own order's authorization, in another currency: invalid too.
cur="svy-$run"
pl_send svc "$(svc_request "$cur" deposit 5.00 "$(with_card ".auth_ref = {request_id: \"$a1\"} | .currency = \"EUR\"")")"
r=$(pl_wait_reply svc "$cur" 60) || fail "no reply for $cur"
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.request_id "$r"
assert_eq "$(col "count(*)" "$cur")" 0 "nothing recorded for $cur"
# A void of it in another currency: invalid, nothing recorded, no Void sent.
vcur="svz-$run"
pl_send reversal "$(void_request "$vcur" "$a1" | jq -c '.currency = "EUR"')"
r=$(pl_wait_reply reversal "$vcur" 60) || fail "no reversal reply for $vcur"
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.request_id "$r"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_reversal WHERE request_id = :'id'" id="$vcur")" 0 "nothing recorded for $vcur"

# ---- DBA views, and the card number nowhere paylink writes but the one reply -------------------------
assert_eq "$(pl_sql "SELECT count(*) FROM svc_card_activity WHERE order_number = :'o' AND card_masked = :'m' AND card_status = 'active'" o="$order" m="$mask")" \
    14 "svc_card_activity: the card's fourteen requests (two refused activations), masked"

# ---- an authorization named by its SVATransactionID alone ------------------------------------------
# The deposit and the void of a paylink authorization that name it only by auth_ref.transaction_id
# are its: checked against what remains, claimed on it and settled on it as by request id.
a3="svp3-$run"
r=$(svc "$a3" auth 15.00 "$(with_card)")
assert_json .status approved "$r"
a3tid=$(jq -r '.auth.transaction_id // ""' <<<"$r")
assert_ne "$a3tid" "" "the authorization's SVATransactionID"
d3="svd3-$run"
r=$(svc "$d3" deposit 10.00 "$(with_card ".auth_ref = {transaction_id: \"$a3tid\"}")")
assert_json .status approved "$r"
assert_json .amount_approved 10.00 "$r"
assert_eq "$(pl_ledger_count "$order" deposit)" 2 "a second Postauthorization in the ledger"
assert_eq "$(col "operation || '|' || ref_request_id || '|' || claim_amount" "$d3")" \
    "svc_postauth|$a3|10.00" "the deposit by SVATransactionID names and claimed $a3"
assert_eq "$(col "amount_deposited || '|' || amount_pending" "$a3")" "10.00|0.00" \
    "the authorization is deposited by it, its claim released"
d4="svd4-$run"
r=$(svc "$d4" deposit 5.01 "$(with_card ".auth_ref = {transaction_id: \"$a3tid\"}")")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "greater than what remains" "message"
assert_eq "$(pl_ledger_count "$order" deposit)" 2 "no Postauthorization sent for $d4"
# In another currency: invalid, the reference named, nothing recorded.
d5="svd5-$run"
pl_send svc "$(svc_request "$d5" deposit 1.00 "$(with_card ".auth_ref = {transaction_id: \"$a3tid\"} | .currency = \"EUR\"")")"
r=$(pl_wait_reply svc "$d5" 60) || fail "no reply for $d5"
assert_json .status invalid "$r"
assert_json '.errors[0].field' auth_ref.transaction_id "$r"
assert_eq "$(col "count(*)" "$d5")" 0 "nothing recorded for $d5"
# The void releases what remains (5.00), whatever amount the request says.
v3="svv3-$run"
pl_send reversal "$(void_request "$v3" "" | jq -c --arg t "$a3tid" '.auth_ref = {transaction_id: $t} | .amount = "15.00"')"
r=$(pl_wait_reply reversal "$v3" 60) || fail "no reversal reply for $v3"
assert_json .status approved "$r"
assert_json .amount_approved 5.00 "$r"
assert_eq "$(pl_ledger_count "$order" void)" 2 "a second Void in the ledger"
assert_eq "$(pl_sql "SELECT auth_request_id || '|' || claim_amount FROM auth_reversal WHERE request_id = :'id'" id="$v3")" \
    "$a3|5.00" "the void by SVATransactionID names and claimed $a3"
assert_eq "$(col "amount_deposited || '|' || amount_voided || '|' || amount_pending" "$a3")" \
    "10.00|5.00|0.00" "the authorization is deposited and voided, nothing held"
r=$(svc "svb4-$run" balance "" "$(with_card)")
assert_json .svc.balance 30.00 "$r"

# ---- returns naming the deposit they refund (capture_ref, migration 042) -----------------------
# At most what the deposit took (d1: 20.00) less earlier returns, claimed on the deposit's row
# while in flight and settled into its amount_returned; refused without a call otherwise.
returns_before=$(pl_ledger_count "$order" return)
ret_of() { with_card ".capture_ref = {request_id: \"$1\"} ${2:+| $2}"; }
rt1="svrt1-$run"
r=$(svc "$rt1" return 15.00 "$(ret_of "$d1")")
assert_json .status approved "$r"
assert_json .amount_approved 15.00 "$r"
assert_eq "$(pl_ledger_count "$order" return)" $((returns_before + 1)) "the Return was sent"
assert_eq "$(col "operation || '|' || ref_request_id || '|' || claim_amount" "$rt1")" \
    "svc_return|$d1|15.00" "the return names and claimed its deposit"
assert_eq "$(col "amount_returned || '|' || amount_pending" "$d1")" "15.00|0.00" \
    "the deposit shows what was returned, the claim released"
rt2="svrt2-$run"
r=$(svc "$rt2" return 5.01 "$(ret_of "$d1")")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "less earlier returns (5.00)" "message"
assert_eq "$(col "status || '|' || operation || '|' || coalesce(claim_amount::text, 'none')" "$rt2")" \
    "declined||none" "svc_trans row of the refused return"
# Another card's return, an authorization named as the deposit, a deposit that was declined.
rt3="svrt3-$run"
r=$(svc "$rt3" return 1.00 "$(ret_of "$d1" ".svc.card_number = \"$card2\"")")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "another stored value card" "message"
rt4="svrt4-$run"
r=$(svc "$rt4" return 1.00 "$(ret_of "$a1")")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "names a stored value auth, not a deposit" "message"
rt5="svrt5-$run"
r=$(svc "$rt5" return 1.00 "$(ret_of "$d2")")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "was not approved (declined)" "message"
assert_eq "$(pl_ledger_count "$order" return)" $((returns_before + 1)) "no Return sent for the refused ones"
# Another order's deposit: invalid, the reference named, nothing recorded.
rt6="svrt6-$run"
pl_send svc "$(svc_request "$rt6" return 1.00 "$(ret_of "$d1" ".order = \"X$run\"")")"
r=$(pl_wait_reply svc "$rt6" 60) || fail "no reply for $rt6"
assert_json .status invalid "$r"
assert_json '.errors[0].field' capture_ref.request_id "$r"
assert_eq "$(col "count(*)" "$rt6")" 0 "nothing recorded for $rt6"
# What is left goes; the deposit is then returned in whole.
rt7="svrt7-$run"
r=$(svc "$rt7" return 5.00 "$(ret_of "$d1")")
assert_json .status approved "$r"
assert_eq "$(col "amount_returned || '|' || amount_pending" "$d1")" "20.00|0.00" \
    "the deposit is returned in whole"
assert_eq "$(pl_ledger_count "$order" return)" $((returns_before + 2)) "two Returns sent"
assert_logs_clean "$card"
pl_db_not_contains "$card"
for t in svc.request.dlq reversal.reply reversal.request.dlq; do
    assert_not_contains "$(pl_messages_keyed "$PAYLINK_TOPIC_PREFIX.$t")" "$card" "$t"
done
# (A simulator restarted against a kept environment hands its numbers out again: earlier runs'
# generate replies may hold this number too, but never any other reply.)
assert_eq "$(pl_messages "$(pl_topic svc reply)" | grep -F -- "$card" |
    jq -c 'select(.type != "generate" or .replayed == true or .status != "approved")' | wc -l)" \
    0 "svc.reply: the number only in first-hand generate replies"
