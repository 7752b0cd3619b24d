#!/usr/bin/env bash
# A request paylink cannot finish while its row is still open is left to the resolver, never
# just dropped: the row becomes `unknown` with a required response, the upstream system gets a
# `timeout` reply with "required_response": true, nothing is given up (no dead-letter copy, not
# counted in paylink_requests_failed_total), and the resolver settles it later.
#   - answer_not_stored: the bureau approved, but the database refuses to store the answer (a
#     trigger refuses this order's final statuses, not `unknown`). Then, the trigger gone and the
#     required response made due, paylink-auth's resolver asks CyberSource, finds the
#     authorization and publishes the final reply: approved, "resolved": true. (Migration 002's
#     CHECK refused this reason, so the worker gave such a request up with its row left `sent`.)
#   - the same for a reject (481): the reversal decided with the answer is not published.
#   - not_finished: the bureau unreachable (a copy of CYB pointed at a closed port: the final
#     answer is `error`) and the database refusing that `error`: the worker does not give the
#     request up but leaves it to the resolver.
# tools/dev's test profile delays the resolver's first step a day: this test makes its own row
# due (next_query_at).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
store_order="UNS$run"
final_order="UNF$run"
# The database refuses this test's two orders any status but the open ones and `unknown`.
pl_db_refuse cc_auth_trans "$run" "TG_OP = 'UPDATE' AND NEW.order_number IN ('$store_order', '$final_order')
    AND NEW.status NOT IN ('received', 'sent', 'unknown')"
failed_total() { pl_metric paylink_requests_failed_total; }
rr() {
    pl_sql "SELECT $1 FROM required_response WHERE request_id = :'id' AND worker = 'auth'" id="$2"
}
row_status() { pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$1"; }
# A copy of CYB pointed at a closed port (paylink-auth restarted, so its counters start here).
pl_clone_bureau CYBU '{"description": "unreachable (test_edges_unknown)",
    "test_url": "https://127.0.0.1:1/commerce/1.x/transactionProcessor",
    "production_url": "https://127.0.0.1:1/commerce/1.x/transactionProcessor"}'
failed_before=$(failed_total)

# ---- the answer cannot be stored ----------------------------------------------------------------
id1="uns-$run"
r=$(pl_auth_reply "$id1" 31.00 "$store_order")
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(row_status "$id1")" unknown "the row is unknown"
assert_eq "$(rr "status || '|' || reason" "$id1")" "open|answer_not_stored" \
    "a required response is open for it"
assert_contains "$(rr detail "$id1")" "could not be stored" "saying why"
assert_eq "$(pl_ledger_count "$id1" auth)" 1 "the bureau was called once"

# ---- the final answer cannot be written ---------------------------------------------------------
id2="unf-$run"
r=$(pl_auth_reply "$id2" 32.00 "$final_order" '.service = "CYBU"')
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(row_status "$id2")" unknown "the row is unknown"
assert_eq "$(rr "status || '|' || reason" "$id2")" "open|not_finished" \
    "a required response is open for it"
assert_contains "$(rr detail "$id2")" "(status error)" "with the database's own words"
assert_eq "$(pl_ledger_count "$id2")" 0 "nothing reached the bureau"

# ---- a reject whose answer cannot be stored --------------------------------------------------
# Decision Manager rejects it (481) and paylink-auth decides its reversal with the answer; the
# answer not stored, the reversal goes nowhere either: the outcome is unknown, and what it was
# decided with is not what the row says. (A sentinel 481 on another order is published after it:
# once the sentinel's reversal is on the topic, so would this one's be.)
id3="unr-$run"
r=$(pl_auth_reply "$id3" 481.00 "$store_order")
assert_json .status timeout "$r"
assert_eq "$(rr "status || '|' || reason" "$id3")" "open|answer_not_stored" \
    "a required response is open for the reject"
r=$(pl_auth_reply "unr2-$run" 481.00 "UNR$run")
assert_json .status rejected "$r"
pl_wait_topic "$PAYLINK_TOPIC_PREFIX.reversal.request" "unr2-$run.rev" 60 >/dev/null ||
    fail "the sentinel reject's reversal was not published"
assert_eq "$(pl_messages "$PAYLINK_TOPIC_PREFIX.reversal.request" | grep -c -F "\"$id3" || true)" 0 \
    "no reversal of a reject whose answer was not stored"

# None was given up.
assert_eq "$(failed_total)" "$failed_before" "paylink_requests_failed_total unchanged"
for id in "$id1" "$id2" "$id3"; do
    dlq=$(pl_dlq auth "$id" 5 || true)
    assert_eq "$dlq" "" "no dead-letter copy of $id"
done

# ---- the resolver settles the first ---------------------------------------------------------
pl_db_refuse_end cc_auth_trans "$run"
pl_sql "UPDATE required_response SET next_query_at = now() WHERE request_id = :'id' AND status = 'open'" \
    id="$id1" >/dev/null
is_resolved() { [ "$(rr status "$1")" = resolved ]; }
pl_eventually 90 is_resolved "$id1" || fail "$id1 not resolved: $(rr "status || ' ' || last_query_result" "$id1")"
assert_eq "$(rr "resolution || '|' || resolved_how" "$id1")" "approved|query" "resolved by the query"
assert_eq "$(row_status "$id1")" approved "the authorization is approved"
r=$(pl_wait_reply_nth auth "$id1" 2 60) || fail "no final reply for $id1"
assert_json .status approved "$r"
assert_json .resolved true "$r"
assert_eq "$(pl_ledger_count "$id1" auth)" 1 "the bureau authorized once"
assert_logs_clean
pass "requests paylink could not finish are left to the resolver"
