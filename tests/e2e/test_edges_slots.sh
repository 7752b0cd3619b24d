#!/usr/bin/env bash
# Issue 6 A.5: a request is marked sent only when it is about to be sent. With the bureau's
# concurrency cap at 1 (auth_service.max_concurrent), four requests arrive together: one is at
# the bureau, three wait for the slot — and those three are still 'received'. A crash then
# leaves them re-sendable: after the restart they are sent and approved; only the one whose
# bytes may have reached the bureau becomes a required response.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# A long response time and bureau delay: the moment with one request at the bureau and three
# waiting lasts, however slow the machine.
cap=$(pl_sql "SELECT response_time_ms FROM auth_service WHERE service_bureau = 'CYB'")
pl_one_cyb_slot

pl_sim_latency 30000
ids=()
for i in 1 2 3 4; do
    ids+=("slot$i-$run")
    pl_send auth "$(pl_request auth "slot$i-$run" "6$i.00")"
done
counts() {
    pl_sql "SELECT count(*) FILTER (WHERE status = 'sent') || '|' ||
                   count(*) FILTER (WHERE status = 'received') FROM cc_auth_trans
             WHERE request_id LIKE 'slot_-$run'"
}
one_at_bureau() { [ "$(counts)" = "1|3" ]; }
pl_eventually 60 one_at_bureau || fail "expected 1 sent and 3 received, got $(counts)"
pass "one request at the bureau, three waiting for its slot still 'received'"

pl_worker_stop auth KILL
pl_sim_latency 0
# Back to the demo's response time: the request left at the bureau is presumed abandoned that
# long (+ 10 s) after it was marked sent.
pl_sql "UPDATE auth_service SET response_time_ms = $cap WHERE service_bureau = 'CYB'" >/dev/null
pl_worker_start auth

approved=0 timeouts=0
for id in "${ids[@]}"; do
    r=$(pl_wait_reply auth "$id" 90) || fail "no reply for $id"
    case $(jq -r .status <<<"$r") in
    approved) approved=$((approved + 1)) ;;
    timeout) timeouts=$((timeouts + 1)) ;;
    *) fail "unexpected reply for $id: $r" ;;
    esac
done
assert_eq "$approved|$timeouts" "3|1" "three sent after the restart, one unknown"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'slot_-$run'")" 1 \
    "one required response: the request that was at the bureau"
for id in "${ids[@]}"; do
    assert_ne "$(pl_ledger_count "$id" auth)" 2 "$id never authorized twice"
done
pass "requests waiting for a bureau slot stay re-sendable"
