#!/usr/bin/env bash
# Follow-up messages are decided with the answer and stored with it (008_followups.sql): a
# redelivered request publishes them again, exactly as decided, and their consumer de-duplicates
# them by request_id. Here: the reversal request for an authorization an auth+capture replaced
# (a debit larger than it), and the one for a Decision Manager reject.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
ord="FU$run"
pl_send auth "$(pl_request auth "fa-$run" 100.00 ".order = \"$ord\"")"
assert_json .status approved "$(pl_wait_reply auth "fa-$run" 60)"

debit=$(jq -nc --arg id "fd-$run" --arg order "$ord" --arg auth "fa-$run" '{v: 1,
    request_id: $id, type: "debit", company: 1, order: $order, pay_seq: 1, service: "CYB",
    amount: "130.00", currency: "USD", auth_ref: {request_id: $auth}}')
pl_send deposit "$debit"
assert_json .status approved "$(pl_wait_reply deposit "fd-$run" 60)"
rev=$(pl_wait_topic "$PAYLINK_TOPIC_PREFIX.reversal.request" "fd-$run.vdr" 30)
assert_json .amount 100.00 "$rev"
assert_eq "$(pl_sql "SELECT jsonb_array_length(followups) FROM cc_deposit_trans WHERE request_id = :'id'" id="fd-$run")" 1 "the follow-up is stored with the answer"

# A redelivery of the debit: the stored reply and the stored follow-up, published again.
pl_send deposit "$debit"
assert_json .replayed true "$(pl_wait_reply_nth deposit "fd-$run" 2 60)"
copies() { [ "$(pl_messages "$PAYLINK_TOPIC_PREFIX.reversal.request" | grep -c "\"fd-$run.vdr\"")" -ge 2 ]; }
pl_eventually 30 copies || fail "the follow-up was not published again"
pass "the follow-up was published again with the replayed reply"
# The reversal worker answered it once and replayed the duplicate.
first=$(pl_wait_reply reversal "fd-$run.vdr" 60)
assert_ne "$(jq -r .status <<<"$first")" invalid "the reversal worker took the request"
assert_json .replayed true "$(pl_wait_reply_nth reversal "fd-$run.vdr" 2 60)"
assert_json .status approved "$first"
assert_eq "$(pl_ledger_count "fd-$run.vdr" reversal)" 1 "reversed at the bureau once, not twice"

# A Decision Manager reject redelivered: its reversal request goes out again too.
dm=$(pl_request auth "fr-$run" 481.00 ".order = \"F2$run\"")
pl_send auth "$dm"
assert_json .status rejected "$(pl_wait_reply auth "fr-$run" 60)"
pl_send auth "$dm"
assert_json .replayed true "$(pl_wait_reply_nth auth "fr-$run" 2 60)"
dmcopies() { [ "$(pl_messages "$PAYLINK_TOPIC_PREFIX.reversal.request" | grep -c "\"fr-$run.rev\"")" -ge 2 ]; }
pl_eventually 30 dmcopies || fail "the DM reversal request was not published again"
assert_eq "$(pl_ledger_count "fr-$run.rev" reversal)" 1 "the authorization reversed once"
pass "follow-ups replayed"
