#!/usr/bin/env bash
# paylinkctl svc close-order / reverse-unused end to end (issue 8; seed
# customer-engagement-stored-value-card.txt, "Void Request": a cancellation reimburses the
# authorization to the card): stored value authorizations through Kafka, paylink-svc and the
# simulator on one physical card, orders marked closed or cancelled, the unused authorizations
# listed, and the voids sent as the order system would send them (the listed reversal with the
# card added) through paylink-reversal. Checked in the listing, order_closed, svc_unused_void
# (and its open view), svc_trans, auth_reversal and the simulator's ledger:
#   an authorization on a closed order with something left is listed (what is left: authorized
#   less deposited), one on a cancelled order too; one on an open order, one deposited in full
#   and one of another pay type are not; --dry-run records nothing; --older-than-days waits;
#   every run lists the same reversal request ids (recorded once, times_listed counts); a void
#   sent without the card is declined and the next run asks for a new attempt; the voids
#   release exactly what was left, once, also when the order system sends one twice; after
#   them a run lists nothing. No card number in the listing, the database or the logs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# A pay type of this run's own (reverse-unused works per company and pay type), and another:
# stored value pay types of company 1 on RLT, as reverse-unused requires (seed REVXAHP).
pt="U${run: -3}"
pt_other="V${run: -3}"
pl_sql "INSERT INTO pay_type (company, pay_type, kind, service_bureau)
        VALUES (1, :'a', 'SVC', 'RLT'), (1, :'b', 'SVC', 'RLT')" a="$pt" b="$pt_other" >/dev/null
pl_on_exit "pl_sql \"DELETE FROM pay_type WHERE company = 1 AND pay_type IN ('$pt', '$pt_other')\" >/dev/null"
# A physical card of this run's own: ActivateInstrument creates it with its balance.
card="78$(date +%s%N | tail -c 14)$((RANDOM % 10))"
mask=$(sed -E 's/[0-9]/*/g' <<<"${card:0:${#card}-4}")${card: -4}

with_card() { echo ".svc = {card_number: \"$card\"} ${1:+| $1}"; }
svc() { pl_svc_reply "$1" "$2" "$3" "${4:-}" "${5:-.}"; }
col() { pl_sql "SELECT $1 FROM svc_trans WHERE request_id = :'id'" id="$2"; }
ctl_svc() { "$PL_CTL" svc "$@"; }
# unused [OPTIONS]: this run's listing (JSON lines), the summary line dropped.
unused() { ctl_svc reverse-unused --company 1 --pay-type "$pt" "$@" 2>/dev/null; }
line_of() { jq -c --arg a "$2" 'select(.auth_request_id == $a)' <<<"$1"; }
# no_card TEXT WHAT: TEXT does not hold the card number (which the test output never shows).
no_card() {
    [[ $1 != *"$card"* ]] || fail "$2 holds the card number"
    pass "$2 holds no card number"
}

# ---- the card and the authorizations --------------------------------------------------------------
r=$(svc "sua-$run" activate "SUA$run" 100.00 "$(with_card '.svc += {issue_amount: "100.00", virtual: false}')")
assert_json .status approved "$r"

o_closed="SUC$run" o_cancel="SUX$run" o_open="SUO$run" o_full="SUF$run" o_other="SUP$run"
a_closed="suc-$run" a_cancel="sux-$run" a_open="suo-$run" a_full="suf-$run" a_other="sup-$run"
auth() { # ID ORDER AMOUNT PAY_TYPE
    local r
    r=$(svc "$1" auth "$2" "$3" "$(with_card ".pay_type = \"$4\"")")
    assert_json .status approved "$r"
    assert_json .amount_approved "$3" "$r"
}
auth "$a_closed" "$o_closed" 30.00 "$pt"
auth "$a_cancel" "$o_cancel" 10.00 "$pt"
auth "$a_open" "$o_open" 20.00 "$pt"
auth "$a_full" "$o_full" 15.00 "$pt"
auth "$a_other" "$o_other" 5.00 "$pt_other"
deposit() { # ID ORDER AMOUNT AUTH
    local r
    r=$(svc "$1" deposit "$2" "$3" "$(with_card ".auth_ref = {request_id: \"$4\"}")")
    assert_json .status approved "$r"
}
deposit "sud1-$run" "$o_closed" 10.00 "$a_closed"
deposit "sud2-$run" "$o_full" 15.00 "$a_full"

# ---- the order system marks orders closed or cancelled ------------------------------------------
close() { ctl_svc close-order --company 1 --order "$1" --reason "$2" --by e2e 2>/dev/null; }
r=$(close "$o_closed" closed)
assert_json .marked true "$r"
assert_json .reason closed "$r"
assert_json .closed_by e2e "$r"
assert_json .order "$o_closed" "$r"
assert_json .marked true "$(close "$o_cancel" cancelled)"
assert_json .marked true "$(close "$o_full" closed)"
assert_json .marked true "$(close "$o_other" closed)"
# A second mark keeps the first.
r=$(close "$o_closed" cancelled)
assert_json .marked false "$r"
assert_json .reason closed "$r"
assert_eq "$(pl_sql "SELECT reason || '|' || closed_by FROM order_closed WHERE company = 1 AND order_number = :'o'" o="$o_closed")" \
    "closed|e2e" "order_closed keeps the first mark"
if ctl_svc close-order --company 1 --order "$o_open" --reason finished >/dev/null 2>&1; then
    fail "close-order accepted the reason 'finished'"
fi
pass "close-order refuses a reason other than closed or cancelled"
assert_eq "$(pl_sql "SELECT count(*) FROM order_closed WHERE company = 1 AND order_number = :'o'" o="$o_open")" \
    0 "the open order is not marked"

# ---- a dry run: listed, nothing recorded ------------------------------------------------------------
out=$(unused --dry-run)
assert_eq "$(wc -l <<<"$out")" 2 "the dry run lists two authorizations"
l=$(line_of "$out" "$a_closed")
assert_json .reversal_request_id "$a_closed.unused" "$l"
assert_json .attempt 1 "$l"
assert_json .amount_authorized 30.00 "$l"
assert_json .amount_left 20.00 "$l"
assert_json .order_status closed "$l"
assert_json .card.masked "$mask" "$l"
assert_json .pay_type "$pt" "$l"
assert_json .topic "$PAYLINK_TOPIC_PREFIX.reversal.request" "$l"
assert_json .key "1-$o_closed" "$l"
assert_json .first_listed_at null "$l"
assert_eq "$(jq -c .reversal <<<"$l")" "$(jq -cn --arg id "$a_closed.unused" --arg o "$o_closed" \
    --arg pt "$pt" --arg a "$a_closed" '{v: 1, request_id: $id, type: "reversal", company: 1,
    order: $o, pay_seq: 1, service: "RLT", pay_type: $pt, amount: "20.00", currency: "USD",
    auth_ref: {request_id: $a}}')" "the reversal request to send (without the card)"
l=$(line_of "$out" "$a_cancel")
assert_json .amount_left 10.00 "$l"
assert_json .order_status cancelled "$l"
for a in "$a_open" "$a_full" "$a_other"; do
    assert_eq "$(line_of "$out" "$a")" "" "$a is not listed"
done
no_card "$out" "the listing"
assert_eq "$(pl_sql "SELECT count(*) FROM svc_unused_void WHERE pay_type = :'pt'" pt="$pt")" 0 \
    "the dry run recorded nothing"
assert_eq "$(unused --older-than-days 1 | grep -c . || true)" 0 \
    "--older-than-days 1: the orders were marked today, nothing listed"

# ---- runs: the same request ids each time, recorded ----------------------------------------------
out1=$(unused --by e2e)
out2=$(unused --by e2e)
ids() { jq -r '.reversal_request_id' <<<"$1" | sort | paste -sd ' '; }
assert_eq "$(ids "$out1")" "$(printf '%s\n' "$a_cancel.unused" "$a_closed.unused" | sort | paste -sd ' ')" \
    "the run lists the voids of both orders"
assert_eq "$(ids "$out2")" "$(ids "$out1")" "a second run lists the same request ids"
assert_json .times_listed 2 "$(line_of "$out2" "$a_closed")"
assert_eq "$(pl_sql "SELECT count(*) || '|' || min(times_listed) || '|' || min(listed_by) FROM svc_unused_void WHERE pay_type = :'pt'" pt="$pt")" \
    "2|2|e2e" "svc_unused_void: one row per void, listed twice"
assert_eq "$(pl_sql "SELECT string_agg(reversal_status || ':' || amount_left, ',' ORDER BY amount_left) FROM svc_unused_void_open WHERE pay_type = :'pt'" pt="$pt")" \
    "not sent:10.00,not sent:20.00" "svc_unused_void_open: both voids not sent yet"

# ---- the order system sends a void without the card: declined, and the next run asks again -------
send_listed() { # LINE [JQ_FILTER on the reversal]
    pl_send reversal "$(jq -c ".reversal | ${2:-.}" <<<"$1")"
}
l=$(line_of "$out2" "$a_cancel")
send_listed "$l"
r=$(pl_wait_reply reversal "$a_cancel.unused" 60) || fail "no reversal reply for $a_cancel.unused"
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "names its card" "message"
# Its request id is spent: the same id with the card added is other content.
send_listed "$l" ".svc = {card_number: \"$card\"}"
r=$(pl_wait_reply_nth reversal "$a_cancel.unused" 2 60) || fail "no second reply for $a_cancel.unused"
assert_json .status invalid "$r"
assert_eq "$(pl_ledger_count "$o_cancel" void)" 0 "no Void sent without the card, nor for the spent id"
out=$(unused)
l=$(line_of "$out" "$a_cancel")
assert_json .reversal_request_id "$a_cancel.unused2" "$l"
assert_json .attempt 2 "$l"
assert_json .times_listed 1 "$l"
assert_json .reversal_request_id "$a_closed.unused" "$(line_of "$out" "$a_closed")"
assert_eq "$(pl_sql "SELECT string_agg(reversal_request_id, ',' ORDER BY reversal_request_id) FROM svc_unused_void_open WHERE pay_type = :'pt'" pt="$pt")" \
    "$(printf '%s\n' "$a_cancel.unused2" "$a_closed.unused" | sort | paste -sd ,)" \
    "svc_unused_void_open: the refused attempt is no longer open"

# ---- the order system sends the listed voids with the card --------------------------------------
for a in "$a_closed" "$a_cancel"; do
    send_listed "$(line_of "$out" "$a")" ".svc = {card_number: \"$card\"}"
done
r=$(pl_wait_reply reversal "$a_closed.unused" 60) || fail "no reversal reply for $a_closed.unused"
assert_json .status approved "$r"
assert_json .amount_approved 20.00 "$r"
r=$(pl_wait_reply reversal "$a_cancel.unused2" 60) || fail "no reversal reply for $a_cancel.unused2"
assert_json .status approved "$r"
assert_json .amount_approved 10.00 "$r"
assert_eq "$(col "amount_deposited || '|' || amount_voided || '|' || amount_pending" "$a_closed")" \
    "10.00|20.00|0.00" "the closed order's authorization: deposited 10.00, voided 20.00"
assert_eq "$(col "amount_voided || '|' || amount_pending" "$a_cancel")" "10.00|0.00" \
    "the cancelled order's authorization is voided"

# The order system sends one again (from an earlier listing): replayed, nothing voided twice.
send_listed "$(line_of "$out" "$a_closed")" ".svc = {card_number: \"$card\"}"
r=$(pl_wait_reply_nth reversal "$a_closed.unused" 2 60) || fail "no second reply for $a_closed.unused"
assert_json .replayed true "$r"
assert_json .status approved "$r"
for o in "$o_closed" "$o_cancel"; do
    assert_eq "$(pl_ledger_count "$o" void)" 1 "one Void in the ledger for $o"
done
assert_eq "$(pl_ledger | jq -r --arg o "$o_closed" '[.[] | select(.ref == $o and .op == "void")][0].amount')" \
    20.00 "the ledger released what was left, 20.00"

# ---- a void that released less than was left --------------------------------------------------------
# (Customer Engagement voided part, the rest settled by hand there; an operator's resolve of an
# unknown void with --amount.) The next run asks for what is left under a new attempt: the spent
# id would be answered from its row (replayed, or invalid with another amount), for ever.
pl_sql "UPDATE svc_trans SET amount_voided = amount_voided - 5 WHERE request_id = :'id'" id="$a_closed" >/dev/null
l=$(line_of "$(unused --dry-run)" "$a_closed")
assert_json .reversal_request_id "$a_closed.unused2" "$l"
assert_json .attempt 2 "$l"
assert_json .amount_left 5.00 "$l"
pl_sql "UPDATE svc_trans SET amount_voided = amount_voided + 5 WHERE request_id = :'id'" id="$a_closed" >/dev/null

# ---- nothing left: a run lists nothing, no void open; the others untouched ------------------------
assert_eq "$(unused | grep -c . || true)" 0 "a run after the voids lists nothing"
assert_eq "$(pl_sql "SELECT count(*) FROM svc_unused_void_open WHERE pay_type = :'pt'" pt="$pt")" 0 \
    "svc_unused_void_open: nothing open"
for o in "$o_open" "$o_full" "$o_other"; do
    assert_eq "$(pl_ledger_count "$o" void)" 0 "no Void for $o"
done
assert_eq "$(col "amount_approved - amount_deposited - amount_voided" "$a_open")" 20.00 \
    "the open order's authorization still holds 20.00"
assert_eq "$(ctl_svc reverse-unused --company 1 --pay-type "$pt_other" --dry-run 2>/dev/null |
    jq -r .auth_request_id)" "$a_other" "the other pay type lists its own authorization"

# ---- no card number anywhere paylink writes -------------------------------------------------------
hits=$(grep -rlF -- "$card" "$PAYLINK_LOG_DIR" 2>/dev/null || true)
[ -z "$hits" ] || fail "logs hold the card number: $hits"
pass "no log holds the card number"
no_card "$(pl_sql "SELECT row_to_json(v)::text FROM svc_unused_void v WHERE pay_type = :'pt'" pt="$pt")" \
    "svc_unused_void"
no_card "$(pl_messages_keyed "$(pl_topic reversal reply)")" "reversal.reply"
no_card "$(pl_messages_keyed "$(pl_topic reversal request.dlq)")" "reversal.request.dlq"
