#!/usr/bin/env bash
# A new request that finds its bureau's slots all taken waits for one unrecorded, for at most
# PAYLINK_SLOT_WAIT_RECORD_MS, and is then recorded already marked sent in one statement (its
# row is never seen 'received'). test_edges_slots.sh covers the other side: a request that
# waits longer is recorded as 'received' (a visible backlog) and stays re-sendable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# One slot, a bureau that takes 20 s, and a wait before recording far longer than the test: the
# two requests behind the first one have no row until the slot frees, however slow the machine.
pl_one_cyb_slot PAYLINK_SLOT_WAIT_RECORD_MS=600000

pl_sim_latency 20000
ids=()
for i in 1 2 3; do
    ids+=("sw$i-$run")
    pl_send auth "$(pl_request auth "sw$i-$run" "7$i.00")"
done
rows() {
    pl_sql "SELECT count(*) || '|' || count(*) FILTER (WHERE status = 'sent') FROM cc_auth_trans
             WHERE request_id LIKE 'sw_-$run'"
}
one_sent() { [ "$(rows)" = "1|1" ]; }
pl_eventually 60 one_sent || fail "expected one row, sent, got $(rows)"
pass "one request at the bureau; the two waiting for its slot are not recorded yet"

# The next calls are answered at once; the first is answered after its 20 s.
pl_sim_latency 0
for id in "${ids[@]}"; do
    r=$(pl_wait_reply auth "$id" 90) || fail "no reply for $id"
    assert_json .status approved "$r"
    assert_eq "$(pl_ledger_count "$id" auth)" 1 "$id authorized once"
done
assert_eq "$(pl_sql "SELECT count(*) FILTER (WHERE received_at = sent_at) || '|' || count(*)
                     FROM cc_auth_trans WHERE request_id LIKE 'sw_-$run'")" "3|3" \
    "every row was recorded already marked sent, in one statement"
pass "requests that got a slot within the wait were recorded in one statement"
