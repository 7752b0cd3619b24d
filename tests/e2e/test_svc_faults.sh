#!/usr/bin/env bash
# paylink-svc when things go wrong (issue 8; seed customer-engagement-stored-value-card.txt,
# CONTRACT.md §3):
#   - the card series is exhausted — CONTRACT.md §3's 909.xx issue amount, and the simulator's
#     series set to 0 remaining: the generate is declined with the vendor response its ErrorCode
#     ALL_CARDS_GENERATED maps to, no card row;
#   - the bureau is unreachable (a copy of RLT pointed at a closed port): `error` with vendor
#     response SU, nothing recorded as sent, no required response; a balance inquiry says 0.00;
#   - no answer in time (901: never applied; 905: applied, then silent): `timeout` with a required
#     response, and the same request again is answered from its row — the simulator's ledger
#     shows the 905 authorization once, the 901 one never;
#   - a deposit whose outcome is unknown keeps its claim on the authorization, so a void of it is
#     refused while the outcome is open;
#   - a SOAP fault (the simulator's /__sim/relate/fault): SOAP-ENV:Server on an authorization, which
#     the service had applied, is `error` with a required response — the outcome is unknown, and the
#     same request again is answered from its row, not sent again; SOAP-ENV:Client (refused before
#     processing) is a final `error`, nothing applied, no required response.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
order="SF$run"
svc() { pl_svc_reply "$1" "$2" "$order" "${3:-}" "${4:-.}"; }
col() { pl_sql "SELECT $1 FROM svc_trans WHERE request_id = :'id'" id="$2"; }
generated() { pl_ledger | jq '[.[] | select(.protocol == "RLT" and .op == "generate")] | length'; }
series() { # REMAINING: how many more numbers the demo card series may generate
    curl -sf -o /dev/null -X POST --cacert "$PAYLINK_SIM_CA" \
        "$PAYLINK_SIM_URL/__sim/relate/series?prefix=85749&sequence=06&remaining=$1" ||
        fail "cannot set the simulator's card series"
}

# ---- the card series is exhausted ---------------------------------------------------------------
# generate_exhausted ID ISSUE_AMOUNT: a generate the bureau answers ALL_CARDS_GENERATED is declined
# with the vendor response that ErrorCode maps to, and leaves no card and nothing generated.
generate_exhausted() {
    local before r
    before=$(generated)
    r=$(svc "$1" generate "" ".svc = {order_line: 1, issue_amount: \"$2\", virtual: true}")
    assert_json .status declined "$r"
    assert_json .vendor_response ALLCARDGEN "$r"
    assert_json .message "All cards have been generated." "$r"
    assert_json .svc null "$r"
    assert_eq "$(col "status || '|' || vendor_response || '|' || error_code || '|' || card_masked || '|' || (card_hash IS NULL)" "$1")" \
        "declined|ALLCARDGEN|ALL_CARDS_GENERATED||true" "svc_trans row of the refused generate $1"
    assert_eq "$(pl_sql "SELECT count(*) FROM stored_value_card WHERE generated_by = :'id'" id="$1")" 0 \
        "no card row for $1"
    assert_eq "$(generated)" "$before" "nothing generated for $1"
}
# CONTRACT.md §3: 909.xx as the issue amount of a generate.
generate_exhausted "sfg909-$run" 909.00
# The series itself run out (the simulator's control route), whatever the issue amount.
pl_on_exit "series unlimited"
series 0
generate_exhausted "sfg0-$run" 25.00
series unlimited

# A card for the rest, now that the series gives numbers again.
g1="sfg1-$run"
r=$(svc "$g1" generate "" '.svc = {order_line: 1, issue_amount: "2000.00", virtual: true}')
assert_json .status approved "$r"
card=$(jq -r .svc.card_number <<<"$r")
with_card() { echo ".svc = {card_number: \"$card\"} ${1:+| $1}"; }
r=$(svc "sfa-$run" activate 2000.00 "$(with_card '.svc.virtual = true')")
assert_json .status approved "$r"

# ---- the bureau unreachable: SU, and a balance of 0.00 -------------------------------------------
pl_clone_bureau RLTX '{"description": "unreachable (test_svc_faults)",
    "test_url": "https://127.0.0.1:1/relateui/OMS/xmlapi",
    "production_url": "https://127.0.0.1:1/relateui/OMS/xmlapi"}' RLT svc
ub="sfub-$run"
r=$(svc "$ub" balance "" "$(with_card '.service = "RLTX"')")
assert_json .status error "$r"
assert_json .vendor_response SU "$r"
assert_json .svc.balance 0.00 "$r"
assert_json .required_response null "$r"
assert_contains "$(jq -r .message <<<"$r")" "UNAVAILABLE" "message"
ua="sfua-$run"
r=$(svc "$ua" auth 10.00 "$(with_card '.service = "RLTX"')")
assert_json .status error "$r"
assert_json .vendor_response SU "$r"
assert_json .svc null "$r"
assert_eq "$(col "status || '|' || vendor_response || '|' || (error_text LIKE 'no connection%')" "$ub")" \
    "error|SU|true" "svc_trans row of the unreachable balance inquiry"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id IN (:'a', :'b')" a="$ub" b="$ua")" \
    0 "no required response: nothing was sent"
assert_eq "$(pl_ledger_count "$order" auth)" 0 "nothing authorized"

# ---- no answer in time: 901 (never applied) ----------------------------------------------------------
t1="sft1-$run"
t1req=$(pl_svc_request "$t1" auth "$order" 901.00 "$(with_card)")
pl_send svc "$t1req"
r=$(pl_wait_reply svc "$t1" 60) || fail "no reply for $t1"
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_json .vendor_response SU "$r"
assert_eq "$(col status "$t1")" unknown "svc_trans row of $t1"
assert_eq "$(pl_sql "SELECT worker || '|' || status || '|' || operation || '|' || reason FROM required_response WHERE request_id = :'id'" id="$t1")" \
    "svc|open|svc_preauth|timeout" "required response of $t1"
pl_send svc "$t1req"
r=$(pl_wait_reply_nth svc "$t1" 2 60) || fail "no second reply for $t1"
assert_json .replayed true "$r"
assert_json .status timeout "$r"
assert_eq "$(pl_ledger_count "$order" auth)" 0 "901 was never applied, and not sent again"

# ---- no answer in time: 905 (applied, then silent): one effect, whatever is redelivered -------------
t2="sft2-$run"
t2req=$(pl_svc_request "$t2" auth "$order" 905.00 "$(with_card)")
pl_send svc "$t2req"
r=$(pl_wait_reply svc "$t2" 60) || fail "no reply for $t2"
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(pl_ledger_count "$order" auth)" 1 "the 905 authorization was applied once"
pl_send svc "$t2req"
r=$(pl_wait_reply_nth svc "$t2" 2 60) || fail "no second reply for $t2"
assert_json .replayed true "$r"
assert_eq "$(pl_ledger_count "$order" auth)" 1 "the redelivered request was not sent again"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id = :'id'" id="$t2")" 1 \
    "one required response for $t2"

# ---- an unknown deposit keeps its claim: the authorization cannot be voided meanwhile -----------------
a="sfp-$run"
r=$(svc "$a" auth 950.00 "$(with_card)")
assert_json .status approved "$r"
assert_json .amount_approved 950.00 "$r"
d="sfd-$run"
r=$(svc "$d" deposit 905.00 "$(with_card ".auth_ref = {request_id: \"$a\"}")")
assert_json .status timeout "$r"
assert_eq "$(pl_ledger_count "$order" deposit)" 1 "the 905 deposit was applied once"
assert_eq "$(col "amount_pending || '|' || amount_deposited" "$a")" "905.00|0.00" \
    "the unknown deposit's claim stays on the authorization"
v="sfv-$run"
pl_send reversal "$(jq -nc --arg id "$v" --arg order "$order" --arg auth "$a" --arg card "$card" '{
    v: 1, request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1,
    service: "RLT", amount: "950.00", currency: "USD", auth_ref: {request_id: $auth},
    svc: {card_number: $card}}')"
r=$(pl_wait_reply reversal "$v" 60) || fail "no reversal reply for $v"
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "outcome is unknown" "message"
assert_eq "$(pl_ledger_count "$order" void)" 0 "no Void sent"

# ---- SOAP faults: Server after the service applied it (unknown), Client (final) ---------------------
# fault ORDER CODE [OP] [APPLIED]: arms a SOAP fault for ORDER's next Customer Engagement call.
fault() {
    curl -sf -o /dev/null -X POST --cacert "$PAYLINK_SIM_CA" \
        "$PAYLINK_SIM_URL/__sim/relate/fault?order=$1&code=$2${3:+&op=$3}${4:+&applied=$4}" ||
        fail "cannot arm a fault for $1"
}
fs="sffs-$run" fs_order="SFS$run"
fault "$fs_order" Server auth true
fsreq=$(pl_svc_request "$fs" auth "$fs_order" 25.00 "$(with_card)")
pl_send svc "$fsreq"
r=$(pl_wait_reply svc "$fs" 60) || fail "no reply for $fs"
assert_json .status error "$r"
assert_json .required_response true "$r"
assert_json .vendor_response SU "$r"
assert_json .auth null "$r"
assert_eq "$(pl_ledger_count "$fs_order" auth)" 1 "the authorization answered with a Server fault was applied"
assert_eq "$(col status "$fs")" unknown "svc_trans row of $fs"
assert_eq "$(pl_sql "SELECT worker || '|' || status || '|' || operation || '|' || reason || '|' ||
        (detail LIKE '%SOAP fault SOAP-ENV:Server%') FROM required_response WHERE request_id = :'id'" id="$fs")" \
    "svc|open|svc_preauth|bureau_fault|true" "required response of $fs"
pl_send svc "$fsreq"
r=$(pl_wait_reply_nth svc "$fs" 2 60) || fail "no second reply for $fs"
assert_json .replayed true "$r"
assert_json .status error "$r"
assert_json .required_response true "$r"
assert_eq "$(pl_ledger_count "$fs_order" auth)" 1 "the redelivered request was not sent again"

fc="sffc-$run" fc_order="SFC$run"
fault "$fc_order" Client
r=$(pl_svc_reply "$fc" auth "$fc_order" 25.00 "$(with_card)")
assert_json .status error "$r"
assert_json .required_response null "$r"
assert_contains "$(jq -r .message <<<"$r")" "SOAP-ENV:Client" "message"
assert_eq "$(pl_ledger_count "$fc_order")" 0 "nothing applied for the Client fault"
assert_eq "$(col status "$fc")" error "svc_trans row of $fc"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id = :'id'" id="$fc")" 0 \
    "no required response for $fc"

assert_logs_clean "$card"
pl_db_not_contains "$card"
