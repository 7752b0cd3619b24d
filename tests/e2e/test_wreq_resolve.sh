#!/usr/bin/env bash
# The operator's side of the resolver (paylinkctl wreq resolve|retry, tools/paylinkctl/opsctl.h)
# on rows the running system made: authorizations nobody answered (the simulator's 901) on the
# External Payment Service (EXT), on CyberSource (CYB) and a stored value authorization (RLT).
#   - wreq list shows them open, then the EXT and RLT ones escalated once their first step came
#     (their bureaus cannot be asked: the workers' resolvers escalate them);
#   - wreq resolve --outcome approved --by alice --note ...: the rows say resolved / operator /
#     alice, the authorization is approved with its auth_history row, the upstream system gets a
#     second, final reply ("resolved": true, "resolution": "operator"), nothing is sent to the
#     bureau; a second resolve is refused (exit 1) saying it was resolved already;
#   - a row a resolver holds is refused (exit 1), an unreachable Kafka or database changes
#     nothing (exit 3), an amount above the request's is refused;
#   - wreq resolve --outcome declined on the CYB one (--json); --outcome review on a second CYB
#     one (Decision Manager's 480 as read in its case management: held FS, its amount);
#   - wreq retry opens an escalated row again, due now (paylink-svc stopped meanwhile, so the
#     open row can be seen), and its worker's resolver escalates it again; retry --now takes
#     that step in paylinkctl; then a partial approval (--amount) settles it;
#   - wreq show shows resolved_how and who.
# tools/dev's test profile delays the resolver's first step a day (pl_hold_resolver does the
# same on an `up` environment): this test makes its own rows due (next_query_at) where it wants
# the workers' resolvers to take them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pl_hold_resolver
ctl() { "$PL_CTL" "$@"; }
# rr COLUMNS REQUEST_ID [NAME=VALUE...]: its required response's columns.
rr() {
    local cols=$1 id=$2
    shift 2
    pl_sql "SELECT $cols FROM required_response WHERE request_id = :'id'" id="$id" "$@"
}
due() { pl_sql "UPDATE required_response SET next_query_at = now() WHERE request_id = :'id' AND status = 'open'" id="$1" >/dev/null; }
is_status() { [ "$(rr status "$2")" = "$1" ]; }
# wreq_line REQUEST_ID [OPTION...]: its line of `wreq list --json OPTION...`, or nothing.
wreq_line() {
    local id=$1
    shift
    ctl wreq list --json "$@" | jq -c --arg id "$id" 'select(.request_id == $id)'
}
# run_ctl OUT ERR ARGS...: runs paylinkctl with stdout and stderr to the files OUT and ERR and
# prints its exit status.
run_ctl() {
    local out=$1 err=$2 rc=0
    shift 2
    "$PL_CTL" "$@" >"$out" 2>"$err" || rc=$?
    echo "$rc"
}
ledger_of() { pl_ledger | jq -c --arg ref "$1" '[.[] | select(.ref == $ref)]'; }

out=$(mktemp)
err=$(mktemp)
pl_on_exit "rm -f $out $err"
# paylink-svc is stopped for a while below: it runs again whatever happens.
pl_on_exit "pl_worker_pid svc >/dev/null || pl_worker_start svc"

# ---- three authorizations nobody answered --------------------------------------------------------
e1="wre-$run"      # External Payment Service
c1="wrc-$run"      # CyberSource
c2="wrv-$run"      # CyberSource, resolved as a review
s1="wrs-$run"      # stored value (Customer Engagement)
s1_order="WS$run"
pl_send auth "$(pl_request auth "$e1" 901.01 '.service = "EXT"')"
pl_send auth "$(pl_request auth "$c1" 901.02)"
pl_send auth "$(pl_request auth "$c2" 901.04)"
pl_send svc "$(pl_svc_request "$s1" auth "$s1_order" 901.03 '.svc = {card_number: "8574906000000001"}')"
for w_id in "auth $e1" "auth $c1" "auth $c2" "svc $s1"; do
    r=$(pl_wait_reply $w_id 60) || fail "no reply for $w_id"
    assert_json .status timeout "$r"
    assert_json .required_response true "$r"
done
e1_id=$(rr id "$e1")
c1_id=$(rr id "$c1")
s1_id=$(rr id "$s1")

# wreq list shows them, open, their first step a day away.
for id in "$e1" "$c1" "$s1"; do
    line=$(wreq_line "$id")
    assert_json .status open "$line"
    assert_json .queries 0 "$line"
    assert_eq "$(jq -r '.next_step_in_s > 3600' <<<"$line")" true "$id: the next step is a day away"
done
assert_json .service EXT "$(wreq_line "$e1" --bureau EXT)"
assert_json .worker svc "$(wreq_line "$s1" --worker svc)"

# Their first step now: EXT and RLT cannot be asked, so the workers' resolvers escalate them.
due "$e1"
due "$s1"
pl_eventually 60 is_status escalated "$e1" || fail "$e1 not escalated: $(rr "status || ' ' || last_query_result" "$e1")"
pl_eventually 60 is_status escalated "$s1" || fail "$s1 not escalated: $(rr "status || ' ' || last_query_result" "$s1")"
line=$(wreq_line "$e1" --status escalated)
assert_json .status escalated "$line"
assert_ne "$(jq -r .escalated_at <<<"$line")" null "escalated_at"
assert_contains "$(jq -r .last_query_result <<<"$line")" "cannot be asked" "why it was escalated"
assert_eq "$(wreq_line "$e1" --status open)" "" "an escalated row is not open"
assert_json .status escalated "$(wreq_line "$e1")" # the default: everything unsettled
table=$(ctl wreq list --worker auth)
assert_contains "$(grep -F "$e1" <<<"$table")" "escalated" "the table: escalated"
assert_contains "$(grep -F "$e1" <<<"$table")" "operator" "the table: the next step is an operator's"

# ---- wreq resolve: approved by alice ---------------------------------------------------------------
ledger_before=$(ledger_of "$e1")
# Without the bureau's transaction id of it no deposit or reversal could name it: refused.
assert_eq "$(run_ctl "$out" "$err" wreq resolve "$e1_id" --outcome approved --by alice)" 1 \
    "an approval without its transaction id"
assert_contains "$(cat "$err")" "needs the bureau's transaction id" "why"
assert_eq "$(rr status "$e1")" escalated "still escalated"
assert_eq "$(run_ctl "$out" "$err" wreq resolve "$e1_id" --outcome approved --by alice --note "called the bureau" --transaction-id "EXT-$run")" 0 \
    "wreq resolve exit status"
assert_contains "$(cat "$out")" "required response $e1_id (auth $e1, EXT): resolved approved 901.01 USD by alice (operator); final reply published on $(pl_topic auth reply)" \
    "what was applied"
r=$(pl_wait_reply_nth auth "$e1" 2 60) || fail "no final reply for $e1"
assert_json .status approved "$r"
assert_json .resolved true "$r"
assert_json .resolution operator "$r"
assert_json .amount_approved 901.01 "$r"
assert_eq "$(jq -r '.required_response // false' <<<"$r")" false "the final reply needs nothing more"
assert_eq "$(rr "status || '|' || resolution || '|' || resolved_how || '|' || resolved_by || '|' || reply_pending" "$e1")" \
    "resolved|approved|operator|alice|false" "the required response"
assert_contains "$(rr resolution_note "$e1")" "called the bureau" "the note"
assert_eq "$(pl_sql "SELECT status || '|' || amount_approved || '|' || (reply->>'resolution') FROM cc_auth_trans WHERE request_id = :'id'" id="$e1")" \
    "approved|901.01|operator" "cc_auth_trans"
assert_eq "$(pl_sql "SELECT count(*) || '|' || min(status) || '|' || min(amount_authorized) FROM auth_history WHERE request_id = :'id'" id="$e1")" \
    "1|approved|901.01" "auth_history has the approval"
assert_eq "$(ledger_of "$e1")" "$ledger_before" "nothing was sent to the bureau"

# Twice: refused, saying so.
assert_eq "$(run_ctl "$out" "$err" wreq resolve "$e1_id" --outcome declined --by bob)" 1 "a second resolve"
assert_contains "$(cat "$err")" "no open or escalated required response $e1_id" "the resolver's refusal"
assert_contains "$(cat "$err")" "was resolved already: approved via operator by alice" "resolved already"
assert_eq "$(rr resolved_by "$e1")" alice "the second resolve changed nothing"
assert_eq "$(pl_replies auth "$e1" | wc -l)" 2 "no third reply"

# wreq show: how and who.
show=$(ctl wreq show "$e1_id" --json)
assert_json .required_response.resolved_how operator "$show"
assert_json .required_response.resolved_by alice "$show"
assert_json .transaction.status approved "$show"
assert_json '.history[0].status' approved "$show"
text=$(ctl wreq show "$e1_id")
assert_contains "$text" "required response $e1_id (resolved)" "wreq show heading"
grep -qE '^  resolved_how +operator$' <<<"$text" || fail "wreq show: no resolved_how line in: $text"
grep -qE '^  resolved_by +alice$' <<<"$text" || fail "wreq show: no resolved_by line in: $text"
pass "wreq show shows resolved_how and resolved_by"
assert_contains "$(ctl order show --company 1 --order "$(jq -r .order <<<"$r")" --json |
    jq -r 'select(.kind == "required_response") | .detail')" \
    "resolved approved by alice (operator)" "order show"

# ---- refusals that change nothing ----------------------------------------------------------------
# A resolver holds the CYB row right now.
pl_sql "UPDATE required_response SET lease_owner = 'e2e-other/resolver', lease_until = now() + interval '1 hour' WHERE id = :'id'" id="$c1_id" >/dev/null
assert_eq "$(run_ctl "$out" "$err" wreq resolve "$c1_id" --outcome declined --by bob)" 1 "a row being worked on"
assert_contains "$(cat "$err")" "is being worked on by e2e-other/resolver right now" "the resolver's refusal"
assert_eq "$(run_ctl "$out" "$err" wreq retry "$c1_id")" 1 "retry of a row being worked on"
pl_sql "UPDATE required_response SET lease_owner = NULL, lease_until = NULL WHERE id = :'id'" id="$c1_id" >/dev/null
# Kafka or the database cannot be used: exit 3, nothing changed.
assert_eq "$(run_ctl "$out" "$err" --brokers 127.0.0.1:1 wreq resolve "$c1_id" --outcome declined --by bob)" 3 \
    "Kafka unreachable"
assert_contains "$(cat "$err")" "nothing was changed" "said so"
assert_eq "$(run_ctl "$out" "$err" --db "host=127.0.0.1 port=1 dbname=paylink connect_timeout=3" wreq resolve "$c1_id" --outcome declined --by bob)" 3 \
    "the database unreachable"
# More than the request's amount.
assert_eq "$(run_ctl "$out" "$err" wreq resolve "$c1_id" --outcome approved --by bob --amount 902.00)" 1 \
    "an amount above the request's"
assert_eq "$(rr "status || '|' || queries" "$c1")" "open|0" "the CYB row is untouched"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$c1")" unknown "still unknown"
assert_eq "$(pl_replies auth "$c1" | wc -l)" 1 "no reply yet"

# ---- wreq resolve: declined (--json) ---------------------------------------------------------------
j=$(ctl wreq resolve "$c1_id" --outcome declined --by bob --note "issuer declined on the phone" --json)
assert_json .applied true "$j"
assert_json .published true "$j"
assert_json .outcome declined "$j"
assert_json .amount null "$j"
assert_json .request_id "$c1" "$j"
assert_json .reply_topic "$(pl_topic auth reply)" "$j"
assert_json .required_response.status resolved "$j"
assert_json .required_response.resolution declined "$j"
assert_json .required_response.resolved_how operator "$j"
r=$(pl_wait_reply_nth auth "$c1" 2 60) || fail "no final reply for $c1"
assert_json .status declined "$r"
assert_json .resolved true "$r"
assert_json .resolution operator "$r"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$c1")" declined "cc_auth_trans"
assert_eq "$(pl_sql "SELECT string_agg(status, ',') FROM auth_history WHERE request_id = :'id'" id="$c1")" declined "auth_history"
assert_eq "$(pl_ledger_count "$c1" auth)" 0 "the bureau never authorized it"

# ---- wreq resolve: review (Decision Manager's 480, as the operator read it in case management) ----
j=$(ctl wreq resolve "$(rr id "$c2")" --outcome review --by carol --transaction-id 7419661750346782304098 --json)
assert_json .applied true "$j"
assert_json .outcome review "$j"
assert_json .amount 901.04 "$j"
r=$(pl_wait_reply_nth auth "$c2" 2 60) || fail "no final reply for $c2"
assert_json .status review "$r"
assert_json .decision REVIEW "$r"
assert_json .vendor_response 480 "$r"
assert_json .hold_reason FS "$r"
assert_json .amount_approved 901.04 "$r"
assert_json .resolution operator "$r"
assert_eq "$(pl_sql "SELECT status || '|' || hold_reason || '|' || amount_approved || '|' || transaction_id FROM cc_auth_trans WHERE request_id = :'id'" id="$c2")" \
    "review|FS|901.04|7419661750346782304098" "cc_auth_trans holds it for review"

# ---- wreq retry: an escalated row opened again -------------------------------------------------------
escalated_at=$(rr escalated_at "$s1")
# With paylink-svc stopped nobody takes the row: it can be seen open and due.
pl_worker_stop svc
assert_eq "$(run_ctl "$out" "$err" wreq retry "$s1_id")" 0 "wreq retry exit status"
assert_contains "$(cat "$out")" "required response $s1_id (svc $s1, RLT) is open again and due now" "retry output"
line=$(wreq_line "$s1")
assert_json .status open "$line"
assert_eq "$(jq -r '.next_step_in_s <= 0' <<<"$line")" true "due now"
assert_eq "$(rr "escalated_at = :'at'" "$s1" at="$escalated_at")" t "escalated_at kept"
assert_contains "$(grep -F "$s1" <<<"$(ctl wreq list --worker svc)")" " due " "the table: due"
# Back, paylink-svc's resolver takes the step: the bureau still cannot be asked.
pl_worker_start svc
escalated_again() { [ "$(rr "status = 'escalated' AND escalated_at > :'at'" "$s1" at="$escalated_at")" = t ]; }
pl_eventually 60 escalated_again || fail "$s1 not escalated again: $(rr "status || ' ' || last_query_result" "$s1")"
pass "paylink-svc's resolver escalated it again"
# --now: the step in paylinkctl itself.
j=$(ctl wreq retry "$s1_id" --now --json)
assert_json .done true "$j"
assert_json .now true "$j"
assert_json .published null "$j"
assert_json .required_response.status escalated "$j"
assert_eq "$(run_ctl "$out" "$err" wreq retry "$s1_id" --now)" 0 "retry --now exit status"
assert_contains "$(cat "$out")" "required response $s1_id (svc $s1, RLT): escalated: the bureau cannot be asked" \
    "retry --now output"

# ---- a partial approval settles it --------------------------------------------------------------------
assert_eq "$(run_ctl "$out" "$err" wreq resolve "$s1_id" --outcome approved --by carol --amount 450.00 --auth-number A1B2 --transaction-id SV-$run)" 0 \
    "a partial approval"
assert_contains "$(cat "$out")" "resolved approved 450.00 USD by carol (operator); final reply published" "what was applied"
r=$(pl_wait_reply_nth svc "$s1" 2 60) || fail "no final reply for $s1"
assert_json .status approved "$r"
assert_json .amount_approved 450.00 "$r"
assert_json .resolved true "$r"
assert_json .resolution operator "$r"
assert_eq "$(pl_sql "SELECT status || '|' || amount_approved || '|' || auth_number || '|' || svc_transaction_id FROM svc_trans WHERE request_id = :'id'" id="$s1")" \
    "approved|450.00|A1B2|SV-$run" "svc_trans"
assert_eq "$(rr "resolution || '|' || resolved_how || '|' || resolved_by" "$s1")" "approved|operator|carol" "required response"

# ---- a stored value activation settled by an operator activates its card ----------------------------
# As paylink-svc's own store would have: the Stored Value Card row says the card is active, and
# who activated it.
a1="wra-$run"
a1_card="8574907$(date +%N | cut -c1-9)"
pl_send svc "$(pl_svc_request "$a1" activate "WA$run" 901.05 ".svc = {card_number: \"$a1_card\", order_line: 1}")"
r=$(pl_wait_reply svc "$a1" 60) || fail "no reply for $a1"
assert_json .status timeout "$r"
assert_eq "$(pl_sql "SELECT count(*) FROM stored_value_card WHERE card_hash = (SELECT card_hash FROM svc_trans WHERE request_id = :'id')" id="$a1")" \
    0 "no card row before the outcome is known"
assert_eq "$(run_ctl "$out" "$err" wreq resolve "$(rr id "$a1")" --outcome approved --by carol)" 0 "the activation approved"
assert_eq "$(pl_sql "SELECT c.status || '|' || c.activated_by || '|' || (c.activation_date IS NOT NULL) || '|' || c.issue_amount || '|' || right(c.card_masked, 4) FROM stored_value_card c JOIN svc_trans t ON t.card_hash = c.card_hash AND t.service_bureau = c.service_bureau WHERE t.request_id = :'id'" id="$a1")" \
    "active|$a1|true|901.05|${a1_card: -4}" "the card activated by the operator's outcome"
r=$(pl_wait_reply_nth svc "$a1" 2 60) || fail "no final reply for $a1"
assert_json .status approved "$r"
assert_json .resolution operator "$r"

# Settled: the default list no longer shows them; --status resolved does, with how (oldest
# first: on a used environment the test's rows come after its default 1,000).
for id in "$e1" "$c1" "$s1"; do
    assert_eq "$(wreq_line "$id")" "" "$id is settled"
    assert_json .resolved_how operator "$(wreq_line "$id" --status resolved --limit 100000)"
done
assert_not_contains "$(ctl wreq list --status all --json)" 4111111111111111 "wreq list"

pass "wreq resolve and retry"
