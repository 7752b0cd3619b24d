#!/usr/bin/env bash
# Stored value cards on the External Payment Service (issue 9; seed external-payment-service.txt,
# schema/ext/README.md): the stored value sequence of the Customer Engagement issue (test_svc.sh),
# on EXT, through Kafka, paylink-svc (and paylink-reversal for the void) and the simulator:
#   generate a virtual card (its number in the reply once); activate it for 50.00 (activateGift);
#   balance 50.00; authorize 20.00; deposit 20.00; balance 30.00; authorize 100.00 → approved for
#   30.00 with the insufficient-balance message; return 10.00; void the 30.00 authorization;
#   balance 40.00; with Void auth at deposit (not J21, for EXT) a deposit of 4.00 of a 10.00
#   authorization releases the other 6.00; a deposit, a return and a void under the merchant ID
#   of what they draw on. Every call but generate names the card by its token: paylink asks getToken
#   first, so the number reaches the bureau in getToken only.
#   Then: the bureau unreachable → error, SU, balance 0.00; a 905 (applied, no answer) →
#   timeout with a required response, and the same request again changes nothing; no card
#   number in logs, rows or topics but the one generate reply.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
order="XS$run"
svc() { pl_svc_reply "$1" "$2" "$order" "${3:-}" ".service = \"EXT\" | ${4:-.}"; }
with_card() { echo ".svc = {card_number: \"$card\"} ${1:+| $1}"; }
col() { pl_sql "SELECT $1 FROM svc_trans WHERE request_id = :'id'" id="$2"; }
# void REQUEST_ID AUTH_REQUEST_ID AMOUNT SERVICE: the reversal of a stored value authorization of
# the card, sent to paylink-reversal.
void() {
    pl_send reversal "$(jq -nc --arg id "$1" --arg order "$order" --arg auth "$2" --arg amount "$3" \
        --arg service "$4" --arg card "$card" '{v: 1, request_id: $id, type: "reversal", company: 1,
        order: $order, pay_seq: 1, service: $service, amount: $amount, currency: "USD",
        auth_ref: {request_id: $auth}, svc: {card_number: $card}}')"
}
ledger_ops() { pl_ledger | jq -r --arg id "$1" '[.[] | select(.protocol == "EXT" and .ref == $id) | .op] | sort | join(",")'; }

# ---- generate a virtual card ------------------------------------------------------------------
gen="xsg-$run"
r=$(svc "$gen" generate "" '.svc = {order_line: 1, issue_amount: "50.00", virtual: true}')
assert_json .status approved "$r"
card=$(jq -r '.svc.card_number // ""' <<<"$r")
[[ $card =~ ^[0-9]{10,20}$ ]] || fail "the generate reply carries no card number: $r"
pass "the generate reply carries the new card number"
mask=$(sed -E 's/[0-9]/*/g' <<<"${card:0:${#card}-4}")${card: -4}
assert_json .card.masked "$mask" "$r"
assert_eq "$(ledger_ops "$gen")" generate "one generateGift in the ledger"
assert_eq "$(pl_sql "SELECT status || '|' || virtual || '|' || issue_amount || '|' || card_masked FROM stored_value_card WHERE generated_by = :'id'" id="$gen")" \
    "generated|true|50.00|$mask" "stored_value_card row of the generated card"

# ---- activate for 50.00, balance 50.00 ----------------------------------------------------------
act="xsa-$run"
r=$(svc "$act" activate 50.00 "$(with_card '.svc += {order_line: 1, issue_amount: "50.00", virtual: true}')")
assert_json .status approved "$r"
assert_json .amount_approved 50.00 "$r"
assert_eq "$(ledger_ops "$act")" "activate,token" "getToken, then activateGift"
assert_eq "$(col "operation || '|' || amount_approved" "$act")" "svc_activate|50.00" "svc_trans row of the activation"
assert_eq "$(pl_sql "SELECT status FROM stored_value_card WHERE generated_by = :'id'" id="$gen")" active "the card is active"

r=$(svc "xsb1-$run" balance "" "$(with_card)")
assert_json .status approved "$r"
assert_json .svc.balance 50.00 "$r"

# ---- authorize 20.00, deposit 20.00, balance 30.00 ---------------------------------------------
a1="xsp1-$run"
r=$(svc "$a1" auth 20.00 "$(with_card)")
assert_json .status approved "$r"
assert_json .amount_approved 20.00 "$r"
assert_ne "$(jq -r '.auth.transaction_id // ""' <<<"$r")" "" "the authorization's transaction id"
d1="xsd1-$run"
r=$(svc "$d1" deposit 20.00 "$(with_card ".auth_ref = {request_id: \"$a1\"}")")
assert_json .status approved "$r"
assert_json .amount_approved 20.00 "$r"
assert_eq "$(ledger_ops "$d1")" "deposit,token" "getToken, then the deposit"
assert_eq "$(col "amount_deposited || '|' || amount_pending" "$a1")" "20.00|0.00" "the authorization is deposited"
r=$(svc "xsb2-$run" balance "" "$(with_card)")
assert_json .svc.balance 30.00 "$r"

# ---- authorize 100.00: 30.00 on the card → a partial approval ----------------------------------
a2="xsp2-$run"
r=$(svc "$a2" auth 100.00 "$(with_card)")
assert_json .status approved "$r"
assert_json .amount_requested 100.00 "$r"
assert_json .amount_approved 30.00 "$r"
assert_json .message "Insufficient balance on card - please add another payment" "$r"

# ---- return 10.00, void the 30.00 authorization, balance 40.00 -----------------------------------
r=$(svc "xsr-$run" return 10.00 "$(with_card)")
assert_json .status approved "$r"
assert_json .amount_approved 10.00 "$r"
v1="xsv-$run"
void "$v1" "$a2" 30.00 EXT
r=$(pl_wait_reply reversal "$v1" 60) || fail "no reversal reply for $v1"
assert_json .status approved "$r"
assert_json .amount_approved 30.00 "$r"
assert_eq "$(ledger_ops "$v1")" "token,void" "getToken, then the reversal"
assert_eq "$(col "amount_voided || '|' || amount_pending" "$a2")" "30.00|0.00" "the authorization is voided"
r=$(svc "xsb3-$run" balance "" "$(with_card)")
assert_json .svc.balance 40.00 "$r"

# ---- Void auth at deposit (EXT: not J21): a deposit releases the rest of its authorization ------
pl_clone_ext EXTV '{"void_auth_at_deposit": true}' '{}' svc
a3="xsp3-$run"
r=$(svc "$a3" auth 10.00 "$(with_card '.service = "EXTV"')")
assert_json .status approved "$r"
d3="xsd3-$run"
r=$(svc "$d3" deposit 4.00 "$(with_card ".service = \"EXTV\" | .auth_ref = {request_id: \"$a3\"}")")
assert_json .status approved "$r"
assert_json .amount_approved 4.00 "$r"
assert_eq "$(col "void_remainder" "$d3")" t "the deposit went with voidRemainder"
assert_eq "$(col "amount_deposited || '|' || amount_voided || '|' || amount_pending" "$a3")" \
    "4.00|6.00|0.00" "the authorization: 4.00 deposited, the other 6.00 released"
r=$(svc "xsb4-$run" balance "" "$(with_card)")
assert_json .svc.balance 36.00 "$r"

# ---- a deposit, a return and a void go under the merchant ID of what they draw on (053) ----------
# An authorization sent under its entity's merchant ID (merchant_id_override); its deposit and the
# deposit's return name no entity (the contract makes it optional), nor does the void of another
# of its authorizations (`paylinkctl svc reverse-unused` names none): each goes under the merchant
# ID of the row it draws on, as a card's capture or reversal does; before, under the bureau's own,
# where the bureau does not find the authorization. The return names the deposit it refunds by
# its transactionID, and the deposit the authorization by its authorizationCode too.
ent="XE$run" mx="pl_xm_$run" mdir="$PAYLINK_LOG_DIR/ext-messages-$run"
mkdir -p "$mdir"
pl_clone_ext EXTM "$(jq -nc --arg d "$mdir" '{message_log_enabled: true, message_log_dir: $d}')" '{}'
# (Deleted with the clone: ON DELETE CASCADE.)
pl_sql "INSERT INTO merchant_id_override (company, entity, service_bureau, merchant_id)
    VALUES (1, :'e', 'EXTM', :'m')" e="$ent" m="$mx" >/dev/null
for w in svc reversal; do pl_worker_stop $w && pl_worker_start $w; done
pl_on_exit "for w in svc reversal; do pl_worker_stop \$w; pl_worker_start \$w; done"
m() { with_card ".service = \"EXTM\"${1:+ | $1}"; }
a4="xsm4-$run"
r=$(svc "$a4" auth 6.00 "$(m ".entity = \"$ent\"")")
assert_json .status approved "$r"
assert_eq "$(col merchant_id "$a4")" "$mx" "the authorization went under its entity's merchant ID"
d4="xsmd-$run"
r=$(svc "$d4" deposit 3.00 "$(m ".auth_ref = {request_id: \"$a4\"}")")
assert_json .status approved "$r"
assert_eq "$(col merchant_id "$d4")" "$mx" "its deposit, without the entity, under the authorization's merchant ID"
r4="xsmr-$run"
r=$(svc "$r4" return 1.00 "$(m ".capture_ref = {request_id: \"$d4\"}")")
assert_json .status approved "$r"
assert_eq "$(col merchant_id "$r4")" "$mx" "the deposit's return under the deposit's merchant ID"
a5="xsm5-$run"
r=$(svc "$a5" auth 2.00 "$(m ".entity = \"$ent\"")")
assert_json .status approved "$r"
v5="xsmv-$run"
void "$v5" "$a5" 2.00 EXTM
r=$(pl_wait_reply reversal "$v5" 60) || fail "no reply for the void $v5"
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT merchant_id FROM auth_reversal WHERE request_id = :'id'" id="$v5")" "$mx" \
    "the void, without the entity, under the authorization's merchant ID"
# What went to the bureau (the message log): each body under that merchant ID, the return with
# the deposit's transactionID, the deposit with the authorization's code.
body() { grep -h -A1 -- "$1 request" "$mdir"/paylink-"$2"-EXTM-*.log | tail -n 1; }
for x in "$d4 svc" "$r4 svc" "$v5 reversal"; do
    set -- $x
    assert_contains "$(body "$1" "$2")" "\"merchantID\":\"$mx\"" "$1 sent with merchantID $mx"
done
assert_contains "$(body "$r4" svc)" "\"transactionID\":\"$(col svc_transaction_id "$d4")\"" \
    "the return names the deposit it refunds"
assert_contains "$(body "$d4" svc)" "\"authorizationCode\":\"$(col auth_number "$a4")\"" \
    "the deposit names its authorization's code"

# ---- the bureau unreachable: error, SU, balance 0.00 ------------------------------------------------
pl_clone_ext EXTX '{"connect_attempts": 1}' \
    '{"url_prefix": "https://127.0.0.1:1/ext", "token_url": "https://127.0.0.1:1/ext/oauth2/token"}' svc
ub="xsu-$run"
r=$(svc "$ub" balance "" "$(with_card '.service = "EXTX"')")
assert_json .status error "$r"
assert_json .vendor_response SU "$r"
assert_json .svc.balance 0.00 "$r"
assert_json .required_response null "$r"

# ---- 905: applied, no answer → timeout, required response; the same request again: no effect ----
t5="xs905-$run"
req=$(pl_svc_request "$t5" auth "$order" 905.00 ".service = \"EXT\" | $(with_card)")
pl_send svc "$req"
r=$(pl_wait_reply svc "$t5" 90) || fail "no reply for $t5"
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_json .vendor_response SU "$r"
pl_send svc "$req"
r=$(pl_wait_reply_nth svc "$t5" 2 60) || fail "no second reply for $t5"
assert_json .status timeout "$r"
assert_json .replayed true "$r"
assert_eq "$(pl_ledger | jq --arg id "$t5" '[.[] | select(.ref == $id and .op == "auth")] | length')" 1 \
    "the 905 authorization is in the ledger once"

# ---- the card number: in the one generate reply, nowhere else --------------------------------------
assert_logs_clean "$card"
pl_db_not_contains "$card"
assert_eq "$(pl_replies svc "$gen" | grep -cF -- "$card" || true)" 1 \
    "the full number went out in the generate's one reply"
# (A simulator restarted against a kept environment hands its numbers out again: earlier runs'
# generate replies may hold this number too, but never any other reply.)
assert_eq "$(pl_messages "$(pl_topic svc reply)" | grep -F -- "$card" |
    jq -c 'select(.type != "generate" or .replayed == true or .status != "approved")' | wc -l)" \
    0 "svc.reply: the number only in first-hand generate replies"
