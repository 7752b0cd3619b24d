#!/usr/bin/env bash
# A new request that finds its bureau's slots all taken waits for one unrecorded, for at most
# PAYLINK_SLOT_WAIT_RECORD_MS, and is then recorded already marked sent in one statement (its
# row is never seen 'received'). test_edges_slots.sh covers the other side: a request that
# waits longer is recorded as 'received' (a visible backlog) and stays re-sendable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# One slot and a wait before recording far longer than the test: the two requests behind the
# one at the bureau have no row until the slot frees.
pl_one_cyb_slot PAYLINK_SLOT_WAIT_RECORD_MS=600000

# A first call opens the worker's connection to the bureau (the held call waits on the
# simulator's answer, the bureau's 60 s response time, not on a TLS handshake).
pl_warm_auth "wu-$run"

# The simulator paused, then three requests: the first to get the slot is sent and held there
# until the resume, however slow the machine; the kernel keeps what it is sent meanwhile.
pl_sim_pause
ids=()
for i in 1 2 3; do
    ids+=("sw$i-$run")
    pl_send auth "$(pl_request auth "sw$i-$run" "7$i.00")" >/dev/null
done
rows() {
    pl_sql "SELECT count(*) || '|' || count(*) FILTER (WHERE status = 'sent') FROM cc_auth_trans
             WHERE request_id LIKE 'sw_-$run'"
}
in_flight() { pl_metric paylink_in_flight; }
# All three taken in (the held call and two waiting for its slot), one of them recorded and sent.
taken_in() { [ "$(in_flight)" = 3 ] && [ "$(rows)" = "1|1" ]; }
pl_eventually 60 taken_in || fail "expected three in flight and one row, sent; got $(in_flight) and $(rows)"
pass "one request at the bureau; the two waiting for its slot are not recorded yet"

# The held call is answered at the resume, the next two at once.
pl_sim_resume
pl_expect_approved_once 90 "${ids[@]}"
assert_eq "$(pl_sql "SELECT count(*) FILTER (WHERE received_at = sent_at) || '|' || count(*)
                     FROM cc_auth_trans WHERE request_id LIKE 'sw_-$run'")" "3|3" \
    "every row was recorded already marked sent, in one statement"
pass "requests that got a slot within the wait were recorded in one statement"
