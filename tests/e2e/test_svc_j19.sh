#!/usr/bin/env bash
# J19 "Perform Balance Inquiry during Batch Authorizations" (seed
# customer-engagement-stored-value-card.txt; auth_service.balance_inquiry_batch) through Kafka,
# paylink-svc and the simulator's Customer Engagement endpoint. On a copy of RLT with J19
# selected (RLTJ), checked in the replies, svc_trans, the simulator's ledger (inquiries move no
# money and are not in it), the bureau message log (which messages went out, with which amount)
# and paylink-svc's log (one line per call):
#   - a batch auth of 100.00 on a card holding 30.00: an InquiryRequest, then a
#     PreauthorizationRequest for 30.00 (never more than the balance), approved partial; the same
#     request again is replayed, nothing sent;
#   - a batch auth on that card, now with nothing available: `declined` (insufficient balance,
#     vendor response NOFUNDS, hold AT) after the inquiry alone, no hold placed;
#   - a batch auth on a generated card not yet recharged: `declined`, "The card is inactive";
#   - unchanged: an online auth on RLTJ and a batch auth on a copy without J19 (RLTN) are one
#     PreauthorizationRequest for the whole amount;
#   - the bureau unreachable (RLTU, J19): `error` SU after the inquiry, no required response;
#   - the PreauthorizationRequest without an answer (905: applied, then silent): `timeout`, a
#     required response for svc_preauth, applied once whatever is redelivered;
#   - the inquiry without an answer in time: `timeout`, a required response for svc_inquiry,
#     nothing authorized;
#   - paylink-svc killed while the inquiry is in flight: the redelivered request finds its row
#     'sent' (operation svc_inquiry) and becomes a required response after the owner's wait —
#     never a PreauthorizationRequest from the row.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
order="SJ$run"
msgdir="$PAYLINK_LOG_DIR/svc-j19-messages-$run"
mkdir -p "$msgdir"
digits=$(date +%s%N)
card1="71${digits: -14}" # physical cards the simulator creates on activation
card2="72${digits: -14}"
card3="73${digits: -14}"
card4="74${digits: -14}"
card5="75${digits: -14}"

svc() { pl_svc_reply "$1" "$2" "$order" "${3:-}" "${4:-.}"; }
on() { echo ".service = \"$1\" | .svc = {card_number: \"$2\"} ${3:+| $3}"; }
batch() { on "$1" "$2" '.mode = "batch"'; }
col() { pl_sql "SELECT $1 FROM svc_trans WHERE request_id = :'id'" id="$2"; }
auths() { pl_ledger | jq --arg o "$order" '[.[] | select(.ref == $o and .op == "auth")]'; }
# sent ID: the messages paylink-svc sent for request ID, in order, as the bureau message log has
# them: "<message> <RTPAmount or ->" per line.
sent() {
    local f
    for f in "$msgdir"/paylink-svc-*.log; do
        [ -e "$f" ] || continue
        awk -v id="$1" '$2 == id && $3 == "request" { getline body; print body }' "$f"
    done | sed -E 's/&lt;/</g; s/&gt;/>/g' | while IFS= read -r body; do
        m=$(grep -oE '(Inquiry|Preauthorization)Request' <<<"$body" | head -n 1 || true)
        a=$(grep -oE '<Amount>[0-9.]+</Amount>' <<<"$body" | head -n 1 | sed -E 's/<[^>]+>//g' || true)
        echo "${m:-?} ${a:--}"
    done
}
# calls ID: the bureau calls paylink-svc logged for request ID ("<bureau> <operation>" per line).
calls() {
    jq -rR --arg id "$1" 'fromjson? | select(.request_id? == $id) | .msg |
        capture("^(?<b>RLT[A-Z]*) (?<op>svc_[a-z]+): ") | "\(.b) \(.op)"' \
        "$PAYLINK_LOG_DIR/paylink-svc.log" 2>/dev/null || true
}

# ---- the bureaus: RLTJ (J19), RLTN (no J19), RLTU (J19, unreachable), message log on -----------
# clone CODE JSON: a copy of RLT with its vendor responses (so answers map as on RLT), removed
# when the test ends (with them: ON DELETE CASCADE); pl_clone_bureau then restarts paylink-svc.
clone() {
    pl_sql "INSERT INTO auth_service SELECT (jsonb_populate_record(NULL::auth_service,
        to_jsonb(a) || :'over'::jsonb || jsonb_build_object('service_bureau', :'code'))).*
        FROM auth_service a WHERE service_bureau = 'RLT' ON CONFLICT DO NOTHING;
        INSERT INTO vendor_response SELECT (jsonb_populate_record(NULL::vendor_response,
        to_jsonb(v) || jsonb_build_object('service_bureau', :'code'))).*
        FROM vendor_response v WHERE service_bureau = 'RLT' ON CONFLICT DO NOTHING" \
        code="$1" over="$2" >/dev/null
    pl_on_exit "pl_sql \"DELETE FROM auth_service WHERE service_bureau = '$1'\" >/dev/null"
}
logged() { jq -nc --arg dir "$msgdir" --argjson j19 "$1" \
    '{balance_inquiry_batch: $j19, message_log_enabled: true, message_log_dir: $dir}'; }
pl_on_exit "pl_sim_latency 0"
clone RLTN "$(logged false)"
clone RLTU '{"balance_inquiry_batch": true,
    "test_url": "https://127.0.0.1:1/relateui/OMS/xmlapi",
    "production_url": "https://127.0.0.1:1/relateui/OMS/xmlapi"}'
clone RLTJ "$(logged true)"
pl_clone_bureau RLTJ "$(logged true)" RLT svc
assert_eq "$(pl_sql "SELECT string_agg(service_bureau || '=' || balance_inquiry_batch, ',' ORDER BY service_bureau) FROM auth_service WHERE service_bureau IN ('RLTJ', 'RLTN', 'RLTU')")" \
    "RLTJ=true,RLTN=false,RLTU=true" "J19 on the copies"

r=$(svc "sja1-$run" activate 30.00 "$(on RLTJ "$card1")")
assert_json .status approved "$r"
assert_json .amount_approved 30.00 "$r"

# ---- batch auth of 100.00 on 30.00: inquiry, then a PreauthorizationRequest for 30.00 -----------
p1="sjp1-$run"
p1req=$(pl_svc_request "$p1" auth "$order" 100.00 "$(batch RLTJ "$card1")")
pl_send svc "$p1req"
r=$(pl_wait_reply svc "$p1" 60) || fail "no reply for $p1"
assert_json .status approved "$r"
assert_json .amount_requested 100.00 "$r"
assert_json .amount_approved 30.00 "$r"
assert_json .message "Insufficient balance on card - please add another payment" "$r"
assert_json .vendor_response R24 "$r"
assert_ne "$(jq -r '.auth.transaction_id // ""' <<<"$r")" "" "the authorization's SVATransactionID"
assert_eq "$(sent "$p1" | paste -sd,)" "InquiryRequest -,PreauthorizationRequest 30.00" \
    "the messages sent: an inquiry, then a preauthorization for the balance"
assert_eq "$(calls "$p1" | paste -sd,)" "RLTJ svc_inquiry,RLTJ svc_preauth" "paylink-svc logged each call"
assert_eq "$(auths | jq -c '[.[] | .amount]')" '["30.00"]' "the ledger holds 30.00, once"
assert_eq "$(col "status || '|' || operation || '|' || auth_mode || '|' || amount || '|' || amount_approved || '|' || svc_transaction_id || '|' || error_text" "$p1")" \
    "approved|svc_preauth|batch|100.00|30.00|$(jq -r .auth.transaction_id <<<"$r")|" \
    "svc_trans row: the preauthorization it ends with, asked 100.00, approved 30.00"
# The same request again: its stored reply; nothing sent.
pl_send svc "$p1req"
r=$(pl_wait_reply_nth svc "$p1" 2 60) || fail "no second reply for $p1"
assert_json .replayed true "$r"
assert_json .amount_approved 30.00 "$r"
assert_eq "$(sent "$p1" | wc -l)" 2 "the replay sent nothing"
assert_eq "$(auths | jq length)" 1 "still one authorization"

# ---- nothing left on the card: declined after the inquiry, no hold ---------------------------------
p2="sjp2-$run"
r=$(svc "$p2" auth 50.00 "$(batch RLTJ "$card1")")
assert_json .status declined "$r"
assert_json .message "Insufficient balance on card - please add another payment" "$r"
assert_json .vendor_response NOFUNDS "$r"
assert_json .hold_reason AT "$r"
assert_json .svc.balance 0.00 "$r"
assert_json .amount_approved null "$r"
assert_json .auth.transaction_id null "$r"
assert_eq "$(sent "$p2" | paste -sd,)" "InquiryRequest -" "only an inquiry was sent"
assert_eq "$(auths | jq length)" 1 "no authorization for $p2"
assert_eq "$(col "status || '|' || operation || '|' || vendor_response || '|' || hold_reason || '|' || coalesce(amount_approved::text, 'none') || '|' || balance || '|' || error_text" "$p2")" \
    "declined|svc_inquiry|NOFUNDS|AT|none|0.00|J19 balance inquiry: balance 0.00; no PreauthorizationRequest sent" \
    "svc_trans row of the refused authorization"

# ---- an inactive card (generated, not recharged): declined, "The card is inactive" ----------------
g="sjg-$run"
r=$(svc "$g" generate "" '.service = "RLTJ" | .svc = {order_line: 1, issue_amount: "25.00", virtual: true}')
assert_json .status approved "$r"
vcard=$(jq -r .svc.card_number <<<"$r")
p3="sjp3-$run"
r=$(svc "$p3" auth 10.00 "$(batch RLTJ "$vcard")")
assert_json .status declined "$r"
assert_json .message "The card is inactive" "$r"
assert_json .vendor_response INACTIVE "$r"
assert_json .hold_reason AT "$r"
assert_eq "$(sent "$p3" | paste -sd,)" "InquiryRequest -" "only an inquiry was sent"
assert_eq "$(col "status || '|' || operation || '|' || error_text" "$p3")" \
    "declined|svc_inquiry|J19 balance inquiry: the card is inactive; no PreauthorizationRequest sent" \
    "svc_trans row of the inactive card's authorization"
assert_eq "$(auths | jq length)" 1 "no authorization for $p3"

# ---- unchanged: online on RLTJ, batch on a bureau without J19 ------------------------------------
r=$(svc "sja2-$run" activate 30.00 "$(on RLTJ "$card2")")
assert_json .status approved "$r"
p4="sjp4-$run"
r=$(svc "$p4" auth 100.00 "$(on RLTJ "$card2" '.mode = "online"')")
assert_json .status approved "$r"
assert_json .amount_approved 30.00 "$r" # the bureau's own partial approval
assert_json .message "Insufficient balance on card - please add another payment" "$r"
assert_eq "$(sent "$p4" | paste -sd,)" "PreauthorizationRequest 100.00" "online: one preauthorization for the whole amount"
assert_eq "$(calls "$p4" | paste -sd,)" "RLTJ svc_preauth" "online: one call"

r=$(svc "sja3-$run" activate 30.00 "$(on RLTN "$card3")")
assert_json .status approved "$r"
p5="sjp5-$run"
r=$(svc "$p5" auth 100.00 "$(batch RLTN "$card3")")
assert_json .status approved "$r"
assert_json .amount_approved 30.00 "$r"
assert_eq "$(sent "$p5" | paste -sd,)" "PreauthorizationRequest 100.00" "without J19: one preauthorization"
assert_eq "$(calls "$p5" | paste -sd,)" "RLTN svc_preauth" "without J19: one call"
assert_eq "$(auths | jq -c '[.[] | .amount]')" '["30.00","30.00","30.00"]' "the ledger's authorizations"

# ---- the bureau unreachable: error SU after the inquiry, no required response ----------------------
p6="sjp6-$run"
r=$(svc "$p6" auth 10.00 "$(batch RLTU "$card2")")
assert_json .status error "$r"
assert_json .vendor_response SU "$r"
assert_json .required_response null "$r"
assert_contains "$(jq -r .message <<<"$r")" "UNAVAILABLE" "message"
assert_eq "$(col "status || '|' || operation || '|' || (error_text LIKE 'no connection%')" "$p6")" \
    "error|svc_inquiry|true" "svc_trans row: nothing but the inquiry was tried"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id = :'id'" id="$p6")" 0 \
    "no required response"

# ---- the preauthorization without an answer (905: applied, then silent) ----------------------------
r=$(svc "sja4-$run" activate 2000.00 "$(on RLTJ "$card4")")
assert_json .status approved "$r"
r=$(svc "sja5-$run" activate 40.00 "$(on RLTJ "$card5")") # for the crash below
assert_json .status approved "$r"
p7="sjp7-$run"
p7req=$(pl_svc_request "$p7" auth "$order" 905.00 "$(batch RLTJ "$card4")")
pl_send svc "$p7req"
r=$(pl_wait_reply svc "$p7" 60) || fail "no reply for $p7"
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(sent "$p7" | paste -sd,)" "InquiryRequest -,PreauthorizationRequest 905.00" "inquiry, then the preauthorization"
assert_eq "$(pl_sql "SELECT r.operation || '|' || r.reason || '|' || t.status || '|' || t.operation FROM required_response r JOIN svc_trans t USING (request_id) WHERE request_id = :'id'" id="$p7")" \
    "svc_preauth|timeout|unknown|svc_preauth" "required response of the preauthorization"
pl_send svc "$p7req"
r=$(pl_wait_reply_nth svc "$p7" 2 60) || fail "no second reply for $p7"
assert_json .replayed true "$r"
assert_eq "$(auths | jq '[.[] | select(.amount == "905.00")] | length')" 1 "905.00 applied once"
assert_eq "$(sent "$p7" | wc -l)" 2 "nothing sent again"

# ---- the inquiry without an answer in time -------------------------------------------------------------
pl_sim_latency 7000 # RLT's response time is 5 s
p8="sjp8-$run"
r=$(svc "$p8" auth 20.00 "$(batch RLTJ "$card4")")
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_json .vendor_response SU "$r"
assert_eq "$(sent "$p8" | paste -sd,)" "InquiryRequest -" "only the inquiry went out"
assert_eq "$(pl_sql "SELECT r.operation || '|' || r.reason || '|' || t.status || '|' || t.operation FROM required_response r JOIN svc_trans t USING (request_id) WHERE request_id = :'id'" id="$p8")" \
    "svc_inquiry|timeout|unknown|svc_inquiry" "the required response says only an inquiry was sent"
# Nothing is held: an operator cannot approve it, only say error.
rr8=$(pl_sql "SELECT id FROM required_response WHERE request_id = :'id'" id="$p8")
if out=$("$PL_CTL" wreq resolve "$rr8" --outcome approved --by e2e 2>&1); then
    fail "an authorization that sent only its inquiry was approved: $out"
fi
assert_contains "$out" "sent only its balance inquiry: nothing is held" "approval refused"
"$PL_CTL" wreq resolve "$rr8" --outcome error --by e2e --note "nothing held" >/dev/null ||
    fail "the operator could not resolve $p8 as error"
assert_eq "$(col status "$p8")" error "resolved error"

# ---- paylink-svc killed while the inquiry is in flight ---------------------------------------------
p9="sjp9-$run"
pl_send svc "$(pl_svc_request "$p9" auth "$order" 25.00 "$(batch RLTJ "$card5")")"
is_sent() { [ "$(col status "$1")" = sent ]; }
pl_eventually 30 is_sent "$p9" || fail "$p9 was never marked sent"
pl_worker_stop svc KILL
assert_eq "$(col "status || '|' || operation" "$p9")" "sent|svc_inquiry" "the row the crash left"
pl_sim_latency 0
pl_worker_start svc
r=$(pl_wait_reply svc "$p9" 90) || fail "no reply for $p9 after the restart"
assert_json .status timeout "$r"
assert_json .required_response true "$r"
# The default text names the payment service, not CyberSource (Siebel's text is its seed's).
assert_json .message "The connection to the payment service has timed out. Please try the operation later." "$r"
assert_eq "$(pl_sql "SELECT r.reason || '|' || t.status || '|' || t.operation FROM required_response r JOIN svc_trans t USING (request_id) WHERE request_id = :'id'" id="$p9")" \
    "sent_not_answered|unknown|svc_inquiry" "required response; svc_trans says only an inquiry was sent"
assert_eq "$(sent "$p9" | paste -sd,)" "InquiryRequest -" "no preauthorization from the row"
assert_eq "$(auths | jq '[.[] | select(.amount == "25.00")] | length')" 0 "nothing authorized for $p9"

# ---- an unknown preauthorization's required response holds the amount sent, not the one asked ----
# (905.00 on the card: 900.00 activated, 5.00 recharged; 1000.00 asked → a PreauthorizationRequest
# of 905.00, the simulator's 905: applied, then silent). An operator confirming it approves 905.00.
card6="76${digits: -14}"
r=$(svc "sja6-$run" activate 900.00 "$(on RLTJ "$card6")")
assert_json .status approved "$r"
r=$(svc "sjr6-$run" recharge 5.00 "$(on RLTJ "$card6")")
assert_json .status approved "$r"
p10="sjp10-$run"
pl_send svc "$(pl_svc_request "$p10" auth "$order" 1000.00 "$(batch RLTJ "$card6")")"
r=$(pl_wait_reply svc "$p10" 60) || fail "no reply for $p10"
assert_json .status timeout "$r"
assert_eq "$(sent "$p10" | paste -sd,)" "InquiryRequest -,PreauthorizationRequest 905.00" "the preauthorization is for the balance"
assert_eq "$(pl_sql "SELECT operation || '|' || amount FROM required_response WHERE request_id = :'id'" id="$p10")" \
    "svc_preauth|905.00" "the required response holds the amount sent"

for c in "$card1" "$card2" "$card3" "$card4" "$card5" "$card6" "$vcard"; do assert_logs_clean "$c"; done
