#!/usr/bin/env bash
# Credit cards on the External Payment Service (issue 9; seed external-payment-service.txt,
# schema/ext/README.md), through Kafka, paylink-auth, -deposit and -reversal and the simulator:
#   - an authorization with a card number: getToken first (the only message with the number),
#     then the authorization with the token; the token comes back in the reply and is recorded;
#   - a capture of it (deposit with the authorization's token and transaction id), a follow-on
#     credit of part of the capture (return), one naming another card (it goes to the debit's),
#     and the reversal of a second authorization;
#   - a debit over what remains of its authorization: an auth+capture sent as a merchant-initiated
#     REAUTH naming the order payment method's CIT; a failed deposit an operator resubmits goes
#     as a subsequent authorization (RESUBMIT, REAUTH where the bureau lacks resubmission);
#   - subsequent authorizations: a split-shipment REAUTH of the same order payment method carries
#     the stored cardholder-initiated transaction (CIT) id; RESUBMIT becomes REAUTH on a bureau
#     without Supports Auth Resubmission; a membership order names the CIT by its transaction id
#     and sends its original amount;
#   - a REJECT with no reason code → declined, vendor response SU, hold AT (seed "Response
#     codes"); the card number in no message but getToken's, no log, no row.
# The messages the bureau received are read from the bureau message log of a copy of EXT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
order="XC$run"
logdir=$(mktemp -d)
chmod 777 "$logdir"
pl_on_exit "rm -rf '$logdir'"

# A copy of EXT (EXTC) that writes its bureau messages to $logdir, known to the three workers.
pl_clone_ext EXTC "$(jq -nc --arg dir "$logdir" '{message_log_enabled: true, message_log_dir: $dir,
    send_reversal: true, supports_auth_resubmission: false}')" '{}' auth deposit reversal

auth() { pl_auth_reply "$1" "$2" "$order" ".service = \"EXTC\" | ${3:-.}"; }
logs() { cat "$logdir"/paylink-*-EXTC-*.log 2>/dev/null; }
sent() { # REQUEST_ID ENDPOINT: the (masked) body paylink sent for it to that endpoint
    # awk reads to the end: leaving at the line (exit), it could close the pipe while cat still
    # writes the next log, whose SIGPIPE fails the pipeline (pipefail) and the test with it.
    logs | awk -v h="$1 request $2" 'found == 1 { print; found = 2 } !found && index($0, h) { found = 1 }'
}
col() { pl_sql "SELECT $1 FROM cc_auth_trans WHERE request_id = :'id'" id="$2"; }
# A card token as the message log shows it: masked but for its last four characters (it charges
# the card under the merchant's account as the number would).
masked() { local t=$1 stars; printf -v stars '%*s' $((${#t} - 4)) ''; printf '%s%s' "${stars// /*}" "${t: -4}"; }

# ---- authorization: getToken, then the authorization with the token ------------------------------
a1="xa1-$run"
r=$(auth "$a1" 100.00)
assert_json .status approved "$r"
assert_json .amount_approved 100.00 "$r"
assert_json .vendor_response 100 "$r"
tok=$(jq -r '.token // ""' <<<"$r")
assert_ne "$tok" "" "the reply carries the card's token"
tid1=$(jq -r '.auth.transaction_id // ""' <<<"$r")
assert_ne "$tid1" "" "the authorization's transaction id"
assert_eq "$(col "status || '|' || token_created || '|' || initiator || '|' || coalesce(sub_auth_reason, '-')" "$a1")" \
    "approved|$tok|CARDHOLDER|-" "cc_auth_trans row: the token recorded, cardholder-initiated"
assert_eq "$(pl_sql "SELECT transaction_id || '|' || amount || '|' || request_id FROM card_cit WHERE company = 1 AND order_number = :'o' AND pay_seq = 1" o="$order")" \
    "$tid1|100.00|$a1" "the CIT of the order payment method is stored"
assert_eq "$(pl_ledger | jq --arg id "$a1" '[.[] | select(.protocol == "EXT" and .ref == $id) | .op] | sort | join(",")')" \
    '"auth,token"' "the ledger: one getToken and one authorization"
body=$(sent "$a1" authorization)
[ -n "$body" ] || fail "no authorization in the bureau message log"
assert_json .card.token "$(masked "$tok")" "$body"
assert_not_contains "$(logs)" "$tok" "the bureau message log (the card token masked)"
assert_json .initiator CARDHOLDER "$body"
assert_not_contains "$body" "4111" "the authorization message"

# ---- capture 60.00, credit 20.00 of it ---------------------------------------------------------
d1="xd1-$run"
pl_send deposit "$(pl_debit "$d1" 60.00 "$order" "$a1" '.service = "EXTC"')"
r=$(pl_wait_reply deposit "$d1" 60) || fail "no deposit reply for $d1"
assert_json .status approved "$r"
assert_json .amount_approved 60.00 "$r"
body=$(sent "$d1" deposit)
assert_json .transactionID "$tid1" "$body"
assert_json .card.token "$(masked "$tok")" "$body"
assert_eq "$(pl_ledger | jq --arg id "$d1" '[.[] | select(.ref == $id and .op == "capture")] | length')" 1 \
    "one capture in the ledger"

c1="xc1-$run"
pl_send deposit "$(jq -nc --arg id "$c1" --arg order "$order" --arg cap "$d1" '{v: 1,
    request_id: $id, type: "credit", company: 1, order: $order, pay_seq: 1, service: "EXTC",
    amount: "20.00", currency: "USD", capture_ref: {request_id: $cap}}')"
r=$(pl_wait_reply deposit "$c1" 60) || fail "no deposit reply for $c1"
assert_json .status approved "$r"
assert_json .amount_approved 20.00 "$r"
assert_eq "$(pl_ledger | jq --arg id "$c1" '[.[] | select(.ref == $id and .op == "credit")] | length')" 1 \
    "one credit in the ledger"
assert_json .card.token "$(masked "$tok")" "$(sent "$c1" return)"
# A follow-on credit that names another card goes back to the card the debit charged: the debit's
# token, no getToken of the other card (before, that card's token went with the debit's
# transactionID, and nothing compared the two: a refund to another card).
c3="xc3-$run"
pl_send deposit "$(jq -nc --arg id "$c3" --arg order "$order" --arg cap "$d1" '{v: 1,
    request_id: $id, type: "credit", company: 1, order: $order, pay_seq: 1, service: "EXTC",
    amount: "5.00", currency: "USD", capture_ref: {request_id: $cap},
    card: {number: "5555555555554444", exp_month: 12, exp_year: 2030}}')"
r=$(pl_wait_reply deposit "$c3" 60) || fail "no deposit reply for $c3"
assert_json .status approved "$r"
assert_json .card.token "$(masked "$tok")" "$(sent "$c3" return)"
assert_eq "$(logs | grep -c "$c3 request getToken" || true)" 0 "no getToken of the other card"

# ---- a debit with the card number (no authorization: an auth+capture), and a credit of it --------
# getToken's token is recorded on the debit and returned: a follow-on credit names only the debit
# (capture_ref), and the bureau takes cards only as tokens.
d2="xd2-$run" c2="xc2-$run"
pl_send deposit "$(jq -nc --arg id "$d2" --arg order "$order" '{v: 1, request_id: $id,
    type: "debit", company: 1, order: $order, pay_seq: 2, service: "EXTC", amount: "50.00",
    currency: "USD", card: {number: "4111111111111111", exp_month: 12, exp_year: 2030}}')"
r=$(pl_wait_reply deposit "$d2" 60) || fail "no deposit reply for $d2"
assert_json .status approved "$r"
tok2=$(jq -r '.token // ""' <<<"$r")
assert_ne "$tok2" "" "the debit's reply carries the card's token"
assert_eq "$(pl_sql "SELECT operation || '|' || card_token FROM cc_deposit_trans WHERE request_id = :'id'" id="$d2")" \
    "auth_capture|$tok2" "the debit records the token it charged"
pl_send deposit "$(jq -nc --arg id "$c2" --arg order "$order" --arg cap "$d2" '{v: 1,
    request_id: $id, type: "credit", company: 1, order: $order, pay_seq: 2, service: "EXTC",
    amount: "20.00", currency: "USD", capture_ref: {request_id: $cap}}')"
r=$(pl_wait_reply deposit "$c2" 60) || fail "no deposit reply for $c2"
assert_json .status approved "$r"
assert_json .card.token "$(masked "$tok2")" "$(sent "$c2" return)"
# A card never authorized on this order payment method (no CIT): no initiator is claimed.
assert_json .initiator null "$(sent "$d2" authorization)"

# ---- a debit over what remains of the authorization: a merchant-initiated auth+capture --------------
# 40.00 remains of a1; a debit of 50.00 naming it and no card is authorized anew with a1's token, by
# the system and not the customer (seed "Subsequent Authorization Requests"): subsequentAuth Y,
# REAUTH, initiator MERCHANT, naming the order payment method's CIT and its amount. Before, it went
# with none of these.
d3="xd3-$run"
pl_send deposit "$(pl_debit "$d3" 50.00 "$order" "$a1" '.service = "EXTC"')"
r=$(pl_wait_reply deposit "$d3" 60) || fail "no deposit reply for $d3"
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT operation || '|' || deposit_reason FROM cc_deposit_trans WHERE request_id = :'id'" id="$d3")" \
    "auth_capture|over_authorized" "the debit went as an auth+capture"
body=$(sent "$d3" authorization)
assert_json .card.token "$(masked "$tok")" "$body"
assert_json .capture true "$body"
assert_json .subsequentAuth Y "$body"
assert_json .subsequentAuthReason REAUTH "$body"
assert_json .subsequentAuthTransactionID "$tid1" "$body"
assert_json .subsequentAuthOriginalAmount 100.00 "$body"
assert_json .initiator MERCHANT "$body"

# ---- a failed deposit resubmitted by an operator: a subsequent authorization -------------------
# A debit on the card's token, never authorized on its order payment method, declined (204): no
# initiator. `paylinkctl deposits resubmit` sends it again as RESUBMIT (seed "Resubmission of a
# failed deposit"), REAUTH on EXTC, which lacks Supports Auth Resubmission; merchant-initiated.
d5="xd5-$run"
pl_send deposit "$(jq -nc --arg id "$d5" --arg order "$order" --arg tok "$tok" '{v: 1,
    request_id: $id, type: "debit", company: 1, order: $order, pay_seq: 3, service: "EXTC",
    amount: "204.00", currency: "USD", card: {token: $tok}}')"
r=$(pl_wait_reply deposit "$d5" 60) || fail "no deposit reply for $d5"
assert_json .status declined "$r"
assert_json .initiator null "$(sent "$d5" authorization)"
"$PL_CTL" deposits resubmit --request-id "$d5" --by ops-xc >/dev/null
r=$(pl_wait_reply deposit "$d5.r1" 60) || fail "no deposit reply for $d5.r1"
assert_json .status declined "$r"
body=$(sent "$d5.r1" authorization)
assert_json .subsequentAuth Y "$body"
assert_json .subsequentAuthReason REAUTH "$body"
assert_json .initiator MERCHANT "$body"
assert_json .card.token "$(masked "$tok")" "$body"

# ---- a split shipment: REAUTH with the CIT transaction id -----------------------------------------
a2="xa2-$run"
r=$(auth "$a2" 40.00 '.mode = "batch" | .subsequent_auth = {reason: "REAUTH", initiator: "merchant"}')
assert_json .status approved "$r"
body=$(sent "$a2" authorization)
assert_json .subsequentAuth Y "$body"
assert_json .subsequentAuthReason REAUTH "$body"
assert_json .subsequentAuthTransactionID "$tid1" "$body"
assert_json .initiator MERCHANT "$body"
assert_eq "$(col "initiator || '|' || sub_auth_reason || '|' || sub_auth_transaction_id" "$a2")" \
    "MERCHANT|REAUTH|$tid1" "cc_auth_trans records what was sent"
assert_eq "$(pl_sql "SELECT request_id FROM card_cit WHERE company = 1 AND order_number = :'o' AND pay_seq = 1" o="$order")" \
    "$a1" "a merchant-initiated approval does not replace the CIT"

# RESUBMIT on a bureau without Supports Auth Resubmission → REAUTH.
a3="xa3-$run"
r=$(auth "$a3" 10.00 '.mode = "batch" | .subsequent_auth = {reason: "RESUBMIT"}')
assert_json .status approved "$r"
assert_json .subsequentAuthReason REAUTH "$(sent "$a3" authorization)"

# A membership order (another order) names the CIT: its original amount goes along.
a4="xa4-$run"
pl_send auth "$(pl_request auth "$a4" 25.00 ".service = \"EXTC\" | .mode = \"batch\" | .subsequent_auth = {reason: \"REAUTH\", transaction_id: \"$tid1\"}")"
r=$(pl_wait_reply auth "$a4" 60) || fail "no auth reply for $a4"
assert_json .status approved "$r"
body=$(sent "$a4" authorization)
assert_json .subsequentAuthTransactionID "$tid1" "$body"
assert_json .subsequentAuthOriginalAmount 100.00 "$body"

# ---- the reversal of a second authorization ------------------------------------------------
v1="xv1-$run"
pl_send reversal "$(jq -nc --arg id "$v1" --arg order "$order" --arg auth "$a2" '{v: 1,
    request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1, service: "EXTC",
    amount: "40.00", currency: "USD", auth_ref: {request_id: $auth}}')"
r=$(pl_wait_reply reversal "$v1" 60) || fail "no reversal reply for $v1"
assert_json .status approved "$r"
assert_json .amount_approved 40.00 "$r"
assert_eq "$(pl_ledger | jq --arg id "$v1" '[.[] | select(.ref == $id and .op == "reversal")] | length')" 1 \
    "one reversal in the ledger"

# ---- a REJECT without a reason code (150: ERROR, none) → declined, SU, AT -----------------------
x="xx-$run"
r=$(auth "$x" 150.00)
assert_json .status declined "$r"
assert_json .vendor_response SU "$r"
assert_json .hold_reason AT "$r"

# ---- a decline with a reason code the bureau defines with a hold code → AT ----------------------
y="xy-$run"
r=$(auth "$y" 204.00)
assert_json .status declined "$r"
assert_json .vendor_response 204 "$r"
assert_json .hold_reason AT "$r"

# ---- an authorization whose outcome is unknown keeps the token it went with ----------------------
# (905: the bureau applies it and never answers.) No answer is stored, so the token getToken made
# is recorded when the authorization is marked sent: a capture or reversal of it, which names no
# card (EXT takes tokens only), reads it there once the outcome is settled. Before, the token was
# lost with the answer, and such a reversal ended `error`: the hold stayed until it expired.
u="xu-$run"
r=$(auth "$u" 905.00)
assert_json .status timeout "$r"
utok=$(col card_token "$u")
[[ -n $utok && $utok != *4111* ]] || fail "no token recorded for $u: '$utok'"
assert_json .token "$utok" "$r" # the timeout reply carries it too (before: only a later reply)
assert_json .card.token "$(masked "$utok")" "$(sent "$u" authorization)"

# ---- the card number: only getToken carried it ------------------------------------------------
gettoken_bodies=$(logs | grep -c " request getToken" || true)
[ "$gettoken_bodies" -gt 0 ] || fail "no getToken in the message log"
assert_not_contains "$(logs)" "4111111111111111" "the bureau message log (masked)"
assert_logs_clean
pl_db_not_contains 4111111111111111
