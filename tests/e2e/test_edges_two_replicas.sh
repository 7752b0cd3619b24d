#!/usr/bin/env bash
# Issue 6 A.2: conditional writes are read back. Two replicas of paylink-auth process every
# request at the same time (the second in a consumer group of its own, so both get each
# request): one of them marks it sent and calls the bureau; the other's guarded write changes
# nothing, and it must answer from the row — wait for the owner and replay its reply — never
# publish `timeout` + required_response, never leave a required_response row open for a request
# whose outcome is final, never charge twice.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pl_replica_start auth twin
pl_on_exit "pl_sim_latency 0"
# Long enough that both replicas have each request in flight at once.
pl_sim_latency 1500

ids=()
for i in 1 2 3 4 5 6; do
    ids+=("twin$i-$run")
    pl_send auth "$(pl_request auth "twin$i-$run" "1$i.00")"
done

for id in "${ids[@]}"; do
    # Each replica answers once: two replies, both the real outcome.
    pl_wait_reply_nth auth "$id" 2 90 >/dev/null || fail "$id: not answered by both replicas"
    replies=$(pl_replies auth "$id")
    assert_eq "$(jq -s 'map(.status) | unique | join(",")' -r <<<"$replies")" approved \
        "$id: every reply says approved"
    assert_eq "$(jq -s 'map(select(.required_response == true)) | length' <<<"$replies")" 0 \
        "$id: no reply claims an unknown outcome"
    assert_eq "$(jq -s 'map(select(.replayed != true)) | length' <<<"$replies")" 1 \
        "$id: one answer, the other replayed from the row"
    assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$id")" \
        approved "$id: row approved"
    assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id = :'id'" id="$id")" \
        0 "$id: no required response"
    assert_eq "$(pl_ledger_count "$id" auth)" 1 "$id: authorized once at the bureau"
done

# The rule holds on every row: no open required response for a final outcome.
assert_eq "$(pl_sql "SELECT count(*) FROM required_response r JOIN cc_auth_trans t USING (request_id)
    WHERE r.status = 'open' AND t.status IN ('approved', 'declined', 'review', 'rejected', 'error')")" \
    0 "no open required response for a final row"
grep -q 'written by another actor first\|answered from its stored reply' \
    "$PAYLINK_LOG_DIR/paylink-auth-twin.log" "$PAYLINK_LOG_DIR/paylink-auth.log" ||
    fail "neither replica says it answered from the row"
assert_logs_clean
pass "two replicas on one request: one bureau call, the same answer twice"
