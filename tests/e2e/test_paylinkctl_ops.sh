#!/usr/bin/env bash
# The operator's look-up commands (tools/paylinkctl/opsctl.h) against rows and dead letters this
# test makes through Kafka: an authorization and its deposit, a 901 authorization timeout and a
# deposit timeout (required responses, the second settled with `deposits receive` through the
# resolver), two invalid
# requests (dead letters). Then `wreq list|show`, `order show`, `stats`, `dlq list` read them
# back (--json, and the tables once), and `dlq replay` sends a dead letter again: with the dead
# letter's key onto the request topic, answered invalid with the same errors; a keyless one gets
# <company>-<order> from the request and is approved; a truncated one, a card request's masked
# copy, one the worker gave up (without --force; one written with `kind` and `answered`
# `timeout` is told to be settled first), an unreadable record's (no request), one whose
# request_id has a row since (a false `invalid` after its real reply, before) and a bad command
# line are refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
ord="OPS$run"
ctl() { "$PL_CTL" "$@"; }
# wreq_line REQUEST_ID [OPTION...]: its line of `wreq list --json OPTION...`, or nothing.
wreq_line() {
    local id=$1
    shift
    ctl wreq list --json "$@" | jq -c --arg id "$id" 'select(.request_id == $id)'
}
# status_of COMMAND...: the exit status of a paylinkctl command (its output discarded).
status_of() {
    local rc=0
    "$PL_CTL" "$@" >/dev/null 2>&1 || rc=$?
    echo "$rc"
}

tmp=$(mktemp)
errf=$(mktemp)
pl_on_exit "rm -f $tmp $errf"

# ---- rows and dead letters ----------------------------------------------------------------------

r=$(pl_auth_reply "a-$run" 120.00 "$ord")
assert_json .status approved "$r"
token=$(jq -r '.token // ""' <<<"$r")
assert_ne "$token" "" "the authorization created a token"
pl_send deposit "$(pl_debit "d-$run" 100.00 "$ord" "a-$run")"
assert_json .status approved "$(pl_wait_reply deposit "d-$run" 60)"

# No answer in time (the simulator's 901): the outcome is unknown, a required response opens.
pl_send auth "$(pl_request auth "t-$run" 901.00 ".order = \"$ord\" | .pay_seq = 2")"
# Invalid (a currency in lower case) without card data: the dead-letter copy keeps its only fault.
pl_send auth "$(pl_request auth "i-$run" 5.00 ".order = \"$ord\" | .pay_seq = 5 |
    .currency = \"usd\" | del(.card.number) | del(.card.cvv) | .card.token = \"TOKX$run\"")"
# Invalid with a card number: its copy has the number masked.
pl_send auth "$(pl_request auth "ic-$run" 6.00 ".order = \"$ord\" | .pay_seq = 6 |
    .currency = \"usd\"")"
r=$(pl_wait_reply auth "i-$run" 60)
assert_json .status invalid "$r"
errors_first=$(jq -c .errors <<<"$r")
assert_json .status timeout "$(pl_wait_reply auth "t-$run" 60)"

# A deposit whose answer comes after the response time: a required response of the deposit worker.
assert_json .status approved "$(pl_auth_reply "a2-$run" 70.00 "$ord" '.pay_seq = 3')"
pl_on_exit pl_sim_latency 0
pl_sim_latency 8000
pl_send deposit "$(pl_debit "dt-$run" 70.00 "$ord" "a2-$run" '.pay_seq = 3')"
r=$(pl_wait_reply deposit "dt-$run" 60)
pl_sim_latency 0
assert_json .status timeout "$r"

# ---- wreq list ----------------------------------------------------------------------------------

line=$(wreq_line "t-$run" --worker auth --bureau CYB)
assert_json .worker auth "$line"
assert_json .status open "$line"
assert_json .company 1 "$line"
assert_json .order "$ord" "$line"
assert_json .pay_seq 2 "$line"
assert_json .service CYB "$line"
assert_json .amount 901.00 "$line"
assert_json .currency USD "$line"
assert_json .reason timeout "$line"
assert_json .resolved_at null "$line"
# The resolver's progress: not asked yet, its first step a day away (the test profile's policy).
assert_json .queries 0 "$line"
assert_json .last_query_result "" "$line"
assert_json .resolved_how null "$line"
assert_json .reply_pending false "$line"
assert_json .lease_owner null "$line"
assert_eq "$(jq -r '.next_step_in_s > 3600' <<<"$line")" true "the next step is due later"
assert_ne "$(jq -r .next_step_at <<<"$line")" null "next_step_at"
assert_json .status open "$(wreq_line "t-$run" --status open)"
assert_eq "$(wreq_line "t-$run" --status escalated)" "" "--status escalated leaves it out"
rr_id=$(jq -r .id <<<"$line")
assert_eq "$(pl_sql "SELECT request_id FROM required_response WHERE id = :'id'" id="$rr_id")" "t-$run" "the id is the row's"
assert_json .worker deposit "$(wreq_line "dt-$run")"
# Filters: another worker, another bureau, younger than a day.
assert_eq "$(wreq_line "t-$run" --worker deposit)" "" "--worker deposit leaves the auth one out"
assert_eq "$(wreq_line "t-$run" --bureau RLT)" "" "--bureau RLT leaves it out"
assert_eq "$(wreq_line "t-$run" --older-than 1d)" "" "--older-than 1d leaves it out"
assert_eq "$(wreq_line "t-$run" --status resolved)" "" "--status resolved leaves it out"
assert_eq "$(ctl wreq list --json --limit 1 2>/dev/null | wc -l)" 1 "--limit 1"
table=$(ctl wreq list --worker auth)
assert_contains "$(head -n 1 <<<"$table")" "ID  " "table header"
assert_contains "$table" "t-$run" "the table lists it"
assert_contains "$table" "1-$ord-2" "company-order-pay_seq"
assert_contains "$table" "901.00 USD" "amount and currency"
assert_contains "$(head -n 1 <<<"$table")" "NEXT_STEP" "table header: the next step"
grep -F "t-$run" <<<"$table" | grep -qE ' in (23h[0-5][0-9]m|1d00h) ' ||
    fail "the table's next step of t-$run: $(grep -F "t-$run" <<<"$table")"
pass "the table shows the next step a day away"

# ---- wreq show ----------------------------------------------------------------------------------

show=$(ctl wreq show "t-$run" --json)
assert_eq "$(wc -l <<<"$show")" 1 "one JSON line"
assert_json .required_response.id "$rr_id" "$show"
assert_json .transaction.table cc_auth_trans "$show"
assert_json .transaction.status unknown "$show"
assert_json .transaction.operation token_auth "$show"
assert_json .transaction.amount 901.00 "$show"
assert_json .transaction.card_masked 411111******1111 "$show"
assert_json .transaction.reply.status timeout "$show"
assert_json .transaction.reply.required_response true "$show"
assert_ne "$(jq -r .transaction.sent_by <<<"$show")" "" "sent_by"
assert_ne "$(jq -r .transaction.sent_at <<<"$show")" null "sent_at"
assert_json '.history | length' 0 "$show"
assert_not_contains "$show" 4111111111111111 "wreq show"
assert_json .transaction.card_hash null "$show"
# By its id too, and the blocks for people.
assert_eq "$(ctl wreq show "$rr_id" --json | jq -r .required_response.request_id)" "t-$run" "wreq show by id"
out=$(ctl wreq show "$rr_id")
assert_contains "$out" "required response $rr_id (open)" "show: heading"
assert_contains "$out" "transaction (cc_auth_trans)" "show: transaction block"
assert_contains "$out" "(no history rows)" "show: history"

# The deposit: settled from the bureau's record by the resolver's query, with its history.
out=$(ctl deposits receive --request-id "dt-$run" --by e2e-ops)
assert_contains "$out" "dt-$run: resolved approved (query)" "deposits receive"
show=$(ctl wreq show "dt-$run" --json)
assert_json .required_response.status resolved "$show"
assert_json .required_response.resolution approved "$show"
assert_json .required_response.resolved_how query "$show"
assert_eq "$(jq -r .required_response.resolved_by <<<"$show" | cut -d@ -f1)" "paylinkctl:e2e-ops" \
    "resolved by paylinkctl's resolver for the --by name"
assert_json .required_response.queries 1 "$show"
assert_json .transaction.table cc_deposit_trans "$show"
assert_json .transaction.status approved "$show"
assert_json .transaction.deposit_status '*RCVD' "$show"
assert_json .transaction.amount_deposited 70.00 "$show"
assert_eq "$(jq -r '[.history[] | select(.table == "cc_deposit_history") | .event] | join(",")' <<<"$show")" received "deposit history"
assert_json .resolution approved "$(wreq_line "dt-$run" --status resolved)"
assert_eq "$(wreq_line "dt-$run")" "" "no longer open"
assert_json .status resolved "$(wreq_line "dt-$run" --status all)"

# ---- order show ---------------------------------------------------------------------------------

lines=$(ctl order show --company 1 --order "$ord" --json)
assert_json .kind auth "$(head -n 1 <<<"$lines")"
assert_json .request_id "a-$run" "$(head -n 1 <<<"$lines")"
kinds=$(jq -r '.kind + ":" + .request_id' <<<"$lines" | sort -u | tr '\n' ' ')
for k in "auth:a-$run" "auth_history:a-$run" "deposit:d-$run" "deposit_history:d-$run" \
    "auth:t-$run" "required_response:t-$run" "deposit:dt-$run" "required_response:dt-$run" \
    "deposit_history:dt-$run" "auth:a2-$run"; do
    assert_contains " $kinds" " $k " "order show has $k"
done
assert_not_contains "$kinds" "i-$run" "invalid requests are not recorded"
assert_eq "$(jq -r .at <<<"$lines" | sort -c && echo sorted)" sorted "in time order"
d=$(jq -c --arg id "d-$run" 'select(.kind == "deposit" and .request_id == $id)' <<<"$lines")
assert_json .type debit "$d"
assert_json .status approved "$d"
assert_json .amount 100.00 "$d"
assert_json .amount_approved 100.00 "$d"
assert_json .vendor_response 100 "$d"
rr=$(jq -c --arg id "t-$run" 'select(.kind == "required_response" and .request_id == $id)' <<<"$lines")
assert_json .status open "$rr"
assert_contains "$(jq -r .detail <<<"$rr")" "id $rr_id; timeout" "required response detail"
assert_not_contains "$lines" 4111111111111111 "order show"
table=$(ctl order show --company 1 --order "$ord")
assert_contains "$(head -n 1 <<<"$table")" "KIND" "order table header"
assert_eq "$(($(wc -l <<<"$table") - 1))" "$(wc -l <<<"$lines")" "one table row per line"
assert_eq "$(status_of order show --company 1 --order "NONE$run")" 1 "an order without records"

# ---- stats --------------------------------------------------------------------------------------

stats=$(ctl stats --since 1h --bureau CYB --json)
assert_json .kind period "$(head -n 1 <<<"$stats")"
assert_eq "$(jq -r 'select(.kind != "period") | .service' <<<"$stats" | sort -u)" CYB "--bureau CYB only"
approved=$(jq -c 'select(.kind == "outcome" and .worker == "auth" and .type == "auth" and
    .status == "approved" and .vendor_response == "100" and .currency == "USD")' <<<"$stats")
assert_eq "$(jq -r '.count >= 2' <<<"$approved")" true "approved authorizations counted"
assert_eq "$(jq -r '(.amount_approved | tonumber) >= 190' <<<"$approved")" true "amounts approved summed"
assert_ne "$(jq -r .description <<<"$approved")" "" "vendor response description"
assert_eq "$(jq -r 'select(.kind == "outcome" and .worker == "deposit" and .type == "debit" and
    .status == "approved" and .vendor_response == "100" and .currency == "USD") | .count >= 2' <<<"$stats")" true "deposits counted"
open=$(jq -c 'select(.kind == "required_responses_open" and .worker == "auth")' <<<"$stats")
assert_eq "$(jq -r '.count >= 1' <<<"$open")" true "open required responses of CYB"
since=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
assert_eq "$(ctl stats --since "$since" --json | jq -r 'select(.kind == "period") | .since')" "$since" "--since TIMESTAMP"
assert_eq "$(ctl stats --since "$(date -u -d '+1 day' +%Y-%m-%d)" --json | jq -r 'select(.kind == "outcome")' | wc -c)" 0 "nothing received in the future"
table=$(ctl stats --bureau CYB)
assert_contains "$table" "required responses open now" "stats tables"

# ---- dlq list -----------------------------------------------------------------------------------

pl_dlq auth "i-$run" 30 >/dev/null
pl_dlq auth "ic-$run" 30 >/dev/null
dl=$(ctl dlq list --worker auth --since 30m --json | jq -c --arg id "i-$run" 'select(.request_id == $id)')
assert_eq "$(wc -l <<<"$dl")" 1 "one dead letter of i-$run"
assert_json .key "1-$ord" "$dl"
assert_json .type auth "$dl"
assert_json .request_topic "$(pl_topic auth)" "$dl"
assert_json .truncated false "$dl"
# The engine says what it is (`kind`); `answered` is a given-up request's alone.
assert_json .kind invalid "$dl"
assert_json .kind_inferred false "$dl"
assert_json .answered null "$dl"
assert_eq "$(jq -c .errors <<<"$dl")" "$errors_first" "the field errors of the invalid reply"
at=$(jq -r '"\(.partition):\(.offset)"' <<<"$dl")
dlc=$(ctl dlq list --worker auth --since 30m --json | jq -c --arg id "ic-$run" 'select(.request_id == $id)')
at_card=$(jq -r '"\(.partition):\(.offset)"' <<<"$dlc")
assert_eq "$(ctl dlq list --worker auth --limit 1 --json | wc -l)" 1 "dlq list --limit 1"
table=$(ctl dlq list --worker auth --since 30m)
assert_contains "$(head -n 1 <<<"$table")" "P:OFFSET" "dlq table header"
assert_contains "$(head -n 1 <<<"$table")" "KIND" "dlq table header"
assert_contains "$table" "i-$run" "the table lists it"

# ---- dlq replay ---------------------------------------------------------------------------------

# A dry run sends nothing.
out=$(ctl dlq replay --worker auth --offset "$at" --dry-run --json)
assert_json .dry_run true "$out"
assert_json .offset null "$out"
sleep 2
assert_eq "$(pl_replies auth "i-$run" | wc -l)" 1 "a dry run sends nothing"

# Replayed with the dead letter's key onto the request topic: invalid again, the same errors.
out=$(ctl dlq replay --worker auth --offset "$at" --json)
assert_json .topic "$(pl_topic auth)" "$out"
assert_json .key "1-$ord" "$out"
assert_json .key_source dead_letter "$out"
assert_json .request_id "i-$run" "$out"
assert_json .card_masked false "$out"
assert_json .dry_run false "$out"
r=$(pl_wait_reply_nth auth "i-$run" 2 60)
assert_json .status invalid "$r"
assert_eq "$(jq -c .errors <<<"$r")" "$errors_first" "answered invalid again with the same errors"
keys=$(pl_messages_keyed "$(pl_topic auth)" | grep -F "\"i-$run\"" | cut -f 1 | sort | uniq -c | awk '{print $1 " " $2}')
assert_eq "$keys" "2 1-$ord" "both requests on the request topic, with the same key"
two_dead_letters() {
    [ "$(ctl dlq list --worker auth --since 30m --json |
        jq -r --arg id "i-$run" 'select(.request_id == $id) | .offset' | wc -l)" = 2 ]
}
pl_eventually 30 two_dead_letters || fail "the replayed request has no second dead letter"
pass "the replayed request has a second dead letter"

# A card request's copy is masked: it could never succeed, so it is refused (a dry run too).
rc=0
out=$(ctl dlq replay --worker auth --offset "$at_card" --dry-run --json 2>"$errf") || rc=$?
assert_eq "$rc" 1 "a masked copy is refused"
assert_eq "$out" "" "nothing listed to replay"
assert_contains "$(cat "$errf")" "card number in the dead-letter copy is masked" "the refusal"
assert_not_contains "$(cat "$errf")" 4111111111111111 "replay refusal"

# Dead letters written by someone else (as this release writes them, `redacted` false): no key
# (derived from the request and said so), and one cut to fit (refused).
dlq_topic=$(pl_topic auth request.dlq)
req=$(jq -nc --arg id "h-$run" --arg ord "$ord" --arg tok "$token" '{v: 1, request_id: $id,
    type: "auth", company: 1, order: $ord, pay_seq: 4, service: "CYB", amount: "33.00",
    currency: "USD", mode: "batch", card: {token: $tok, type: "VI"}}')
jq -nc --arg r "$req" --arg t "$(pl_topic auth)" '{error: "e2e keyless",
    errors: [{field: "service", error: "e2e keyless"}], topic: $t, partition: 0, offset: 0,
    request: $r, redacted: false}' >"$tmp"
kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$dlq_topic" -p 0 "$tmp"
jq -nc --arg t "$(pl_topic auth)" --arg e "e2e cut $run" '{error: $e, errors: [], topic: $t,
    partition: 0, offset: 1, request: "{\"v\":1,\"requ", truncated: true,
    request_bytes: 2000000}' >"$tmp"
kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$dlq_topic" -p 0 "$tmp"
list=$(ctl dlq list --worker auth --since 30m --json)
at_keyless=$(jq -r --arg id "h-$run" 'select(.request_id == $id) | "\(.partition):\(.offset)"' <<<"$list")
at_cut=$(jq -r --arg e "e2e cut $run" 'select(.error == $e) | "\(.partition):\(.offset)"' <<<"$list")
assert_json .key null "$(jq -c --arg id "h-$run" 'select(.request_id == $id)' <<<"$list")"
assert_json .request_bytes 2000000 "$(jq -c --arg e "e2e cut $run" 'select(.error == $e)' <<<"$list")"

# --all-since in a dry run: every one listed, the cut one refused (exit 1), nothing sent.
rc=0
out=$(ctl dlq replay --worker auth --all-since 30m --dry-run 2>&1) || rc=$?
assert_eq "$rc" 1 "a refused dead letter makes the exit status 1"
assert_contains "$out" "would replay $at_keyless" "dry run lists the keyless one"
assert_contains "$out" "$at_cut: refused: its request was truncated" "dry run refuses the cut one"

rc=0
out=$(ctl dlq replay --worker auth --offset "$at_keyless" --offset "$at_cut" --json 2>"$errf") || rc=$?
err=$(cat "$errf")
assert_eq "$rc" 1 "the cut one is refused, the other sent"
assert_json .key_source request "$out"
assert_json .key "1-$ord" "$out"
assert_contains "$err" "has no key; using 1-$ord" "the derived key is said"
assert_contains "$err" "truncated" "the refusal is said"
r=$(pl_wait_reply auth "h-$run" 60)
assert_json .status approved "$r"
assert_eq "$(pl_messages_keyed "$(pl_topic auth)" | grep -F "\"h-$run\"" | cut -f 1)" "1-$ord" "sent with the derived key"

# h-$run has a row now: its dead letter is refused, naming the row, and nothing is published
# (before, the copy went again and could draw a false `invalid` after the real reply).
rc=0
ctl dlq replay --worker auth --offset "$at_keyless" >/dev/null 2>"$errf" || rc=$?
assert_eq "$rc" 1 "a request with a row is refused"
assert_contains "$(cat "$errf")" "already has a row in cc_auth_trans (status approved)" "the refusal names the row"
sleep 2
assert_eq "$(pl_replies auth "h-$run" | wc -l)" 1 "nothing more published for h-$run"

# A request the worker gave up (no field errors: job_fail's copy) is refused without --force:
# an upstream system that sent it again under another request_id would be charged twice.
req=$(jq -c --arg id "g-$run" '.request_id = $id' <<<"$req")
jq -nc --arg r "$req" --arg t "$(pl_topic auth)" '{error: "its row never settled", errors: [],
    topic: $t, partition: 0, offset: 2, request: $r, redacted: false}' >"$tmp"
kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$dlq_topic" -p 0 "$tmp"
at_given_up=$(ctl dlq list --worker auth --since 30m --json |
    jq -r --arg id "g-$run" 'select(.request_id == $id) | "\(.partition):\(.offset)"')
rc=0
ctl dlq replay --worker auth --offset "$at_given_up" >/dev/null 2>"$errf" || rc=$?
assert_eq "$rc" 1 "a request given up is refused"
assert_contains "$(cat "$errf")" "gave request g-$run up" "the refusal says why"
assert_contains "$(cat "$errf")" "--force" "the refusal names --force"

# As the engine writes them now, with `kind` (and `answered` for a request given up): a
# given-up `timeout` is to be settled first, and an unreadable record's copy (no request) has
# nothing to send, --force or not, the refusal saying where the record was.
req=$(jq -c --arg id "gt-$run" '.request_id = $id' <<<"$req")
jq -nc --arg r "$req" --arg t "$(pl_topic auth)" '{error: "its row never settled",
    kind: "given_up", answered: "timeout", errors: [], topic: $t, partition: 0, offset: 3,
    request: $r, redacted: false}' >"$tmp"
kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$dlq_topic" -p 0 "$tmp"
jq -nc --arg t "$(pl_topic auth)" --arg e "e2e unreadable $run" '{error: $e, kind: "unreadable",
    errors: [], topic: $t, partition: 0, offset: 4, request: "", redacted: false}' >"$tmp"
kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$dlq_topic" -p 0 "$tmp"
list=$(ctl dlq list --worker auth --since 30m --json)
gt=$(jq -c --arg id "gt-$run" 'select(.request_id == $id)' <<<"$list")
assert_json .kind given_up "$gt"
assert_json .answered timeout "$gt"
ur=$(jq -c --arg e "e2e unreadable $run" 'select(.error == $e)' <<<"$list")
assert_json .kind unreadable "$ur"
assert_json .request_id null "$ur"
at_gt=$(jq -r '"\(.partition):\(.offset)"' <<<"$gt")
at_ur=$(jq -r '"\(.partition):\(.offset)"' <<<"$ur")
rc=0
ctl dlq replay --worker auth --offset "$at_gt" --offset "$at_ur" --dry-run >/dev/null 2>"$errf" || rc=$?
err=$(cat "$errf")
assert_eq "$rc" 1 "a given-up timeout and an unreadable record are refused"
assert_contains "$err" "$at_gt: refused: the worker gave request gt-$run up" "the timeout's refusal"
assert_contains "$err" 'answered it `timeout`: its outcome is unknown' "the refusal says how it was answered"
assert_contains "$err" "an operator must settle it first" "the refusal says what to do"
assert_contains "$err" "$at_ur: refused: it is the copy of a record the worker could not read (partition 0, offset 4 of $(pl_topic auth))" "the unreadable one's refusal says where it was"
assert_contains "$err" "nothing to send" "the unreadable one's refusal"
rc=0
ctl dlq replay --worker auth --offset "$at_ur" --force --dry-run >/dev/null 2>"$errf" || rc=$?
assert_eq "$rc" 1 "an unreadable record is refused with --force too"

# ---- the command line ---------------------------------------------------------------------------

assert_eq "$(status_of wreq list --status bogus)" 2 "a bad --status"
assert_eq "$(status_of wreq list --older-than 5x)" 2 "a bad duration"
assert_eq "$(status_of stats --since 2026-02-30)" 2 "a bad timestamp"
assert_eq "$(status_of order show --company 1)" 2 "order show without --order"
assert_eq "$(status_of dlq replay --worker auth)" 2 "dlq replay without offsets"
assert_eq "$(status_of dlq list --worker nope)" 2 "an unknown worker"
assert_eq "$(status_of wreq show "nope-$run")" 1 "an unknown required response"
assert_eq "$(status_of wreq resolve "$rr_id" --outcome approved)" 2 "wreq resolve without --by"
assert_eq "$(status_of wreq resolve "t-$run" --outcome approved --by e2e)" 2 "wreq resolve takes an id only"
assert_eq "$(status_of wreq retry)" 2 "wreq retry without an ID"
out=$(ctl wreq show 4111111111111111 2>&1 || true)
assert_not_contains "$out" 4111111111111111 "a card number given as the id is not echoed"
assert_eq "$(status_of wreq list --json)" 0 "exit 0"

pass "paylinkctl wreq, order, stats and dlq"
