#!/usr/bin/env bash
# Rejected deposits, the seed's operator actions: `paylinkctl deposits confirm` (deposited
# outside paylink) and `paylinkctl deposits resubmit` (sent again as a new request), each
# recorded in cc_deposit_history.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# A token to credit (a resubmission never carries a card number: none is stored).
tok="opt-$run"
pl_send auth "$(pl_request token "$tok" 1.00 'del(.amount) | .card.cvv = null | del(.card.cvv)')"
token=$(pl_wait_reply auth "$tok" 60 | jq -r '.token // ""')
assert_ne "$token" "" "token created"

credit() { # request_id: a stand-alone credit of 204.00 on the token, which the bureau declines
    pl_send deposit "$(jq -cn --arg id "$1" --arg tok "$token" --arg ord "OP$run" '{v: 1,
        request_id: $id, type: "credit", company: 1, order: $ord, pay_seq: 1, service: "CYB",
        amount: "204.00", currency: "USD", card: {token: $tok, type: "VI"}}')"
    r=$(pl_wait_reply deposit "$1" 60)
    assert_json .status declined "$r"
    assert_json .vendor_response 204 "$r"
}

c1="opc-$run"
credit "$c1"
# What the operator types is stored or published: a card number in the note or the name, or a
# new request_id the contract refuses, is refused before anything is written.
dstate() {
    pl_sql "SELECT deposit_status || '|' || (SELECT count(*) FROM cc_deposit_history h
        WHERE h.request_id = t.request_id AND event IN ('confirmed', 'resubmitted'))
        FROM cc_deposit_trans t WHERE request_id = :'id'" id="$1"
}
before=$(dstate "$c1")
for args in "--note|card 4111 1111 1111 1111 by phone" "--by|4111111111111111" "--note|$(printf 'a\tb')"; do
    if err=$("$PL_CTL" deposits confirm --request-id "$c1" "${args%%|*}" "${args#*|}" 2>&1); then
        fail "deposits confirm with ${args%%|*} was accepted"
    fi
    [[ $err != *4111* ]] || fail "the refusal echoes the card number: $err"
done
assert_eq "$(dstate "$c1")" "$before" "a refused confirm records nothing"
out=$("$PL_CTL" deposits confirm --request-id "$c1" --by ops-anna --note "deposited by phone")
assert_contains "$out" "confirmed" "confirm output"
assert_eq "$(pl_sql "SELECT deposit_status FROM cc_deposit_trans WHERE request_id = :'id'" id="$c1")" '*CONF' "confirmed deposit status"
assert_eq "$(pl_sql "SELECT actor || '|' || note FROM cc_deposit_history WHERE request_id = :'id' AND event = 'confirmed'" id="$c1")" "ops-anna|deposited by phone" "confirmation recorded"
# Twice is refused: it is already confirmed.
if "$PL_CTL" deposits confirm --request-id "$c1" >/dev/null 2>&1; then fail "a second confirm was accepted"; fi
pass "a second confirm is refused"

c2="opr-$run"
credit "$c2"
before=$(dstate "$c2")
for as in "retry 1" "r-4111111111111111" "$(printf 'x%.0s' {1..51})"; do
    if "$PL_CTL" deposits resubmit --request-id "$c2" --by ops-ben --as "$as" >/dev/null 2>&1; then
        fail "deposits resubmit --as '$as' was accepted"
    fi
done
assert_eq "$(dstate "$c2")" "$before" "a refused --as resubmits nothing"
out=$("$PL_CTL" deposits resubmit --request-id "$c2" --by ops-ben)
assert_contains "$out" "resubmitted as $c2.r1" "resubmit output"
assert_eq "$(pl_sql "SELECT deposit_status FROM cc_deposit_trans WHERE request_id = :'id'" id="$c2")" '*RESB' "resubmitted deposit status"
assert_eq "$(pl_sql "SELECT actor || '|' || note FROM cc_deposit_history WHERE request_id = :'id' AND event = 'resubmitted'" id="$c2")" "ops-ben|resubmitted as $c2.r1" "resubmission recorded"
# The new request went through the worker like any other (the simulator declines 204.00 again).
r=$(pl_wait_reply deposit "$c2.r1" 60)
assert_json .type credit "$r"
assert_json .amount_requested 204.00 "$r"
assert_eq "$(pl_sql "SELECT card_token FROM cc_deposit_trans WHERE request_id = :'id'" id="$c2.r1")" "$token" "resubmitted on the token"
# Once resubmitted, never again nor confirmed; once confirmed, never resubmitted: each would
# collect the money a second time (the authorization claimed, paylink-deposit would charge the
# token by an auth+capture).
refused() { # WHAT ID EXPECTED: paylinkctl deposits WHAT refuses ID and says EXPECTED
    local err
    if err=$("$PL_CTL" deposits "$1" --request-id "$2" --by ops-cleo 2>&1); then
        fail "deposits $1 of $2 was accepted: $err"
    fi
    assert_contains "$err" "$3" "deposits $1 of $2 refused"
}
refused resubmit "$c2" "was resubmitted as $c2.r1 already"
refused confirm "$c2" "was resubmitted as $c2.r1 already"
refused resubmit "$c1" "was confirmed already (deposited by phone)"
assert_eq "$(pl_sql "SELECT count(*) FROM cc_deposit_history WHERE request_id IN (:'a', :'b') AND event IN ('confirmed', 'resubmitted')" a="$c1" b="$c2")" 2 \
    "one confirmation, one resubmission"
assert_eq "$(pl_sql "SELECT count(*) FROM cc_deposit_trans WHERE request_id LIKE :'p'" p="$c2.r%")" 1 \
    "one resubmitted request"
# An approved deposit cannot be confirmed or resubmitted.
refused resubmit "$tok" "is not a deposit paylink has"

# A stand-alone credit that names an authorization (auth_ref) and carries that authorization's own
# token keeps its token when resubmitted: a credit never borrows one (a debit does), and without
# it the resubmission was refused `invalid` ("card is required") with the original at *RESB.
tok_order=$(pl_sql "SELECT order_number FROM cc_auth_trans WHERE request_id = :'id'" id="$tok")
c3="opk-$run"
pl_send deposit "$(jq -cn --arg id "$c3" --arg tok "$token" --arg ord "$tok_order" --arg a "$tok" '{v: 1,
    request_id: $id, type: "credit", company: 1, order: $ord, pay_seq: 1, service: "CYB",
    amount: "204.00", currency: "USD", auth_ref: {request_id: $a}, card: {token: $tok, type: "VI"}}')"
assert_json .status declined "$(pl_wait_reply deposit "$c3" 60)"
"$PL_CTL" deposits resubmit --request-id "$c3" --by ops-ben >/dev/null
r=$(pl_wait_reply deposit "$c3.r1" 60)
assert_json .status declined "$r"
assert_eq "$(pl_sql "SELECT card_token FROM cc_deposit_trans WHERE request_id = :'id'" id="$c3.r1")" "$token" \
    "the resubmitted credit keeps its own token"

# A confirmed capture (here one the bureau failed, 150) was deposited outside paylink against its
# authorization: its amount counts as deposited there, so the next debit of that authorization is
# not a capture collecting it again. Sent voiding the remainder (CYB's Void auth at deposit), it
# voids what it left, as its approved answer would have (062; on CyberSource paylink's rule, not
# the bureau, keeps the remainder from being captured), so the next debit, even of no more than
# was left, is an auth+capture of its own (the authorization's token). Before, it was a capture
# of that remainder.
ord="OPA$run"
r=$(pl_auth_reply "opa-$run" 300.00 "$ord")
assert_json .status approved "$r"
pl_send deposit "$(pl_debit "opd-$run" 150.00 "$ord" "opa-$run")"
r=$(pl_wait_reply deposit "opd-$run" 60)
assert_json .status error "$r"
assert_eq "$(pl_sql "SELECT operation FROM cc_deposit_trans WHERE request_id = :'id'" id="opd-$run")" capture \
    "the failed debit was a capture"
"$PL_CTL" deposits confirm --request-id "opd-$run" --by ops-anna --note "captured by phone" >/dev/null
assert_eq "$(pl_sql "SELECT concat_ws('|', amount_deposited, status, amount_voided, void_reason, voided_by)
    FROM auth_history WHERE request_id = :'id'" id="opa-$run")" "150.00|voided|150.00|void_at_deposit|opd-$run" \
    "a confirmed capture counts as deposited on its authorization, and voids the remainder it was sent voiding"
pl_send deposit "$(pl_debit "ope-$run" 100.00 "$ord" "opa-$run")"
r=$(pl_wait_reply deposit "ope-$run" 60)
assert_eq "$(pl_sql "SELECT operation || '|' || deposit_reason FROM cc_deposit_trans WHERE request_id = :'id'" id="ope-$run")" \
    "auth_capture|no_authorization" "a debit of what the confirmed capture left is not a capture of it"

# A capture confirmed after its authorization was voided (CYB voids the remainder at deposit) or
# reversed: the bureau did capture, so it is recorded (*CONF) — left rejected it could be
# resubmitted and collected again — but the books stay consistent and the operator is told
# (stderr, exit 1). Voided: the void released only what was not captured, so the capture counts
# deposited and the voided amount shrinks to what it left (before, 250 deposited and 200 voided
# of 300: the same money captured and voided).
confirmed_warns() { # ID EXPECTED_WARNING: confirm records ID, exits 1, warns EXPECTED_WARNING
    local out err
    err=$(mktemp)
    if out=$("$PL_CTL" deposits confirm --request-id "$1" --by ops-anna --note "in the report" 2>"$err"); then
        fail "deposits confirm of $1 exited 0 without a warning: $(cat "$err")"
    fi
    assert_contains "$out" "$1 confirmed (*CONF) by ops-anna" "confirm of $1 recorded"
    assert_contains "$(cat "$err")" "$2" "confirm of $1 warns"
    rm -f "$err"
    assert_eq "$(pl_sql "SELECT deposit_status || '|' || (SELECT count(*) FROM cc_deposit_history h WHERE h.request_id = t.request_id AND h.event = 'confirmed') FROM cc_deposit_trans t WHERE request_id = :'id'" id="$1")"         '*CONF|1' "the capture of $1 is confirmed once"
}
ahist() { # AUTH_REQUEST_ID: status|deposited|voided|void_reason|voided_by of the authorization
    pl_sql "SELECT status || '|' || amount_deposited || '|' || amount_voided || '|' || void_reason || '|' || voided_by
        FROM auth_history WHERE request_id = :'id' AND transaction_type <> 'auth_capture' AND deposit_request_id IS NULL" id="$1"
}
ord="OPV$run"
r=$(pl_auth_reply "opva-$run" 300.00 "$ord")
assert_json .status approved "$r"
pl_send deposit "$(pl_debit "opv1-$run" 150.00 "$ord" "opva-$run")"
assert_json .status error "$(pl_wait_reply deposit "opv1-$run" 60)"
pl_send deposit "$(pl_debit "opv2-$run" 100.00 "$ord" "opva-$run")"
assert_json .status approved "$(pl_wait_reply deposit "opv2-$run" 60)"
assert_eq "$(ahist "opva-$run")" "voided|100.00|200.00|void_at_deposit|opv2-$run" "the remainder voided at deposit"
# While a reversal of the authorization is in flight (here one recorded unknown) the confirmation
# is refused and nothing written: the reversal claims the whole authorization, the capture would
# count for nothing, and the reversal refused (238) would leave it capturable whole again.
pl_sql "INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, pay_seq,
    service_bureau, amount, currency, auth_request_id, auth_history_id, status, sent_at)
    SELECT :'rev', repeat('0', 64), 'reversal', 1, order_number, 1, 'CYB', 300.00, 'USD', request_id, id,
    'unknown', now() FROM auth_history WHERE request_id = :'id' AND deposit_request_id IS NULL"     rev="opvr-$run" id="opva-$run" >/dev/null
refused confirm "opv1-$run" "has the reversal opvr-$run (unknown) in flight"
assert_eq "$(dstate "opv1-$run")|$(ahist "opva-$run")" "*RCVD|0|voided|100.00|200.00|void_at_deposit|opv2-$run"     "nothing written while the reversal is in flight"
pl_sql "UPDATE auth_reversal SET status = 'declined', vendor_response = '238', answered_at = now() WHERE request_id = :'id'" id="opvr-$run" >/dev/null
confirmed_warns "opv1-$run" "voided meanwhile (void_at_deposit by opv2-$run)"
assert_eq "$(ahist "opva-$run")" "voided|250.00|50.00|void_at_deposit|opv2-$run" \
    "counted deposited on the voided authorization, the void only what it left"
# Reversed: an auth+capture replaced the authorization (over what it held) and its reversal
# (.vdr) released all of it. A captured authorization is never reversed (CyberSource 238), so the
# capture is not counted on it: its books stay as the reversal left them (before: reversed with
# 150 deposited and 300 voided).
ord="OPR$run"
r=$(pl_auth_reply "opra-$run" 300.00 "$ord")
assert_json .status approved "$r"
pl_send deposit "$(pl_debit "opr1-$run" 150.00 "$ord" "opra-$run")"
assert_json .status error "$(pl_wait_reply deposit "opr1-$run" 60)"
pl_send deposit "$(pl_debit "opr2-$run" 320.00 "$ord" "opra-$run")"
assert_json .status approved "$(pl_wait_reply deposit "opr2-$run" 60)"
assert_json .status approved "$(pl_wait_reply reversal "opr2-$run.vdr" 60)"
assert_eq "$(ahist "opra-$run")" "reversed|0.00|300.00|auth_capture|opr2-$run" "the replaced authorization reversed"
confirmed_warns "opr1-$run" "its authorization opra-$run was reversed (opr2-$run.vdr"
assert_eq "$(ahist "opra-$run")" "reversed|0.00|300.00|auth_capture|opr2-$run" \
    "a reversed authorization's books stay as the reversal left them"

# A confirmed follow-on credit (here one the bureau failed, 150) was refunded outside paylink: it
# counts as credited on its debit, so the next credit of that debit cannot refund it again.
ord="OPC$run"
r=$(pl_auth_reply "opca-$run" 300.00 "$ord")
assert_json .status approved "$r"
pl_send deposit "$(pl_debit "opcd-$run" 300.00 "$ord" "opca-$run")"
r=$(pl_wait_reply deposit "opcd-$run" 60)
assert_json .status approved "$r"
credit() { # ID AMOUNT
    jq -nc --arg id "$1" --arg amount "$2" --arg order "$ord" --arg d "opcd-$run" '{v: 1,
        request_id: $id, type: "credit", company: 1, order: $order, pay_seq: 1, service: "CYB",
        amount: $amount, currency: "USD", capture_ref: {request_id: $d}}'
}
pl_send deposit "$(credit "opcc-$run" 150.00)"
r=$(pl_wait_reply deposit "opcc-$run" 60)
assert_json .status error "$r"
"$PL_CTL" deposits confirm --request-id "opcc-$run" --by ops-anna --note "refunded by phone" >/dev/null
assert_eq "$(pl_sql "SELECT amount_credited FROM cc_deposit_trans WHERE request_id = :'id'" id="opcd-$run")" 150.00 \
    "a confirmed credit counts as credited on its debit"
pl_send deposit "$(credit "opcc2-$run" 200.00)"
r=$(pl_wait_reply deposit "opcc2-$run" 60)
assert_json .status declined "$r"
assert_eq "$(pl_ledger_count "opcc2-$run")" 0 "a credit beyond what the confirmed one left is never sent"

# A deposit naming a manual authorization is not resubmitted: its number, date and amount (which
# a manual authorization must carry) are not stored, and the resubmission would be refused as
# invalid with the original locked at *RESB. Refused before anything is written.
pl_send deposit "$(pl_request debit "opm-$run" 150.00 "del(.mode) | .auth_ref = {transaction_id: \"4036289939370176056470\", number: \"A1\", amount: \"150.00\", date: \"$(date -u +%F)\"}")"
r=$(pl_wait_reply deposit "opm-$run" 60)
assert_json .status error "$r"
refused resubmit "opm-$run" "manual authorization"
assert_eq "$(pl_sql "SELECT deposit_status || '|' || (SELECT count(*) FROM cc_deposit_history h WHERE h.request_id = t.request_id AND h.event = 'resubmitted') FROM cc_deposit_trans t WHERE request_id = :'id'" id="opm-$run")" \
    '*RCVD|0' "nothing written for the refused resubmission"
pass "operator actions on rejected deposits"
