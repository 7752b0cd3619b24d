#!/usr/bin/env bash
# One bureau that answers nothing must not hold the others of its worker (engine.c, slot_stall;
# README "Wait for a bureau slot"). paylink-auth calls two service bureaus here: CYB, and CYBH, a
# copy of it with one slot (auth_service.max_concurrent 1) whose calls hang (the simulator's
# 901: no answer within any response time). The worker takes four requests at once
# (PAYLINK_MAX_IN_FLIGHT=4): one CYBH call at the bureau, three CYBH requests waiting for its
# slot, and behind them, consumed into the backlog, three more CYBH requests and four CYB ones.
# Before, the requests waiting for CYBH's slot filled the worker and the CYB requests waited
# behind them until one CYBH call after another had timed out (minutes). Now, once the first of
# them has waited PAYLINK_SLOT_WAIT_MAX_MS (2 s here) with no CYBH call answered, CYBH is
# stalled: the waiting requests, and those that come after and find its slot taken, are
# answered `error` without being sent, and the CYB requests are approved. The stall ends when
# the hung call times out, CYBH then having nothing in flight and nothing waiting (nothing is
# known to hang: slot_unstall), its gauge back to 0, and requests take its slot again. (A
# time-out while another call still hangs, an answer ending the stall, a bureau still hung
# stalling again PAYLINK_SLOT_WAIT_MAX_MS after its first call since, and one that recovered
# while idle given that long: test_engine.) Counts and states only, no times.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
log=$PAYLINK_LOG_DIR/paylink-auth.log
pl_hold_resolver # (the hung call's required response is seen as the worker left it)
# CYBH: one slot, and an answer wait its hung call keeps until the test has seen the rest (a
# response time the held call outlasts however slow the machine).
pl_clone_bureau CYBH '{"description": "hangs (test_edges_bureau_stall)", "max_concurrent": 1,
    "response_time_ms": 40000}' CYB none
pl_on_exit "pl_worker_stop auth; pl_worker_start auth" # (after the bureau's removal)
# The requests waiting for CYBH's slot are not recorded before the stall (the longest record
# wait): recorded first then, they are answered on their rows too.
pl_worker_stop auth
pl_worker_start auth PAYLINK_MAX_IN_FLIGHT=4 PAYLINK_SLOT_WAIT_MAX_MS=2000 \
    PAYLINK_SLOT_WAIT_RECORD_MS=600000
from=$(($(wc -l <"$log") + 1))
since() { tail -n "+$from" "$log" | grep -cF -- "$1" || true; }
stalled() { pl_metric paylink_bureau_stalled "$PAYLINK_AUTH_METRICS_PORT" 'bureau="CYBH"'; }
refused() { pl_metric paylink_slot_wait_refused_total "$PAYLINK_AUTH_METRICS_PORT" 'bureau="CYBH"'; }
status_of() { pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$1"; }
assert_eq "$(stalled)|$(refused)" "0|0" "CYBH not stalled, nothing refused, before"

# The call that hangs, at the bureau before the rest are sent.
h0=bsh0-$run
pl_send auth "$(pl_request auth "$h0" 901.00 '.service = "CYBH"')" >/dev/null
is_sent() { [ "$(status_of "$h0")" = sent ]; }
pl_eventually 60 is_sent || fail "$h0 was never marked sent"

# Six more for CYBH (901 too: one sent would hang as well), then four for CYB, all under one key
# so that the worker consumes them in this order (one partition).
hung=() ok=() reqs=()
for i in 1 2 3 4 5 6; do
    hung+=("bsh$i-$run")
    reqs+=("$(pl_request auth "bsh$i-$run" "901.1$i" '.service = "CYBH"')")
done
for i in 1 2 3 4; do
    ok+=("bsc$i-$run")
    reqs+=("$(pl_request auth "bsc$i-$run" "31.0$i")")
done
for req in "${reqs[@]}"; do printf 'bs-%s|%s\n' "$run" "$req"; done |
    kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -K '|'

# The CYB requests are answered while CYBH's call still hangs (it is stalled until it answers).
pl_expect_approved_once 90 "${ok[@]}"
pass "the other bureau's requests were approved behind the hung one's"
for id in "${hung[@]}"; do
    r=$(pl_wait_reply auth "$id" 90) || fail "no reply for $id"
    assert_json .status error "$r" >/dev/null
    assert_json .vendor_response 150 "$r" >/dev/null
    assert_eq "$(jq -r '.required_response // false' <<<"$r")" false "$id: no required response" \
        >/dev/null
    assert_contains "$(jq -r .message <<<"$r")" \
        "Not sent: bureau CYBH has had no free connection slot for " "$id: its message" >/dev/null
    assert_contains "$(jq -r .message <<<"$r")" "send it again under a new request_id." \
        "$id: what to do" >/dev/null
    assert_eq "$(pl_ledger_count "$id")" 0 "$id: nothing at the bureau" >/dev/null
    assert_eq "$(status_of "$id")" error "$id: its row settled error" >/dev/null
done
pass "the six CYBH requests behind the hung call were answered error, not sent"
assert_eq "$(pl_sql "SELECT count(*) FILTER (WHERE error_text LIKE 'not sent: bureau CYBH stalled%')
                     FROM cc_auth_trans WHERE request_id LIKE 'bsh_-$run'")" 6 \
    "their rows say why"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'bsh_-$run'
                     AND request_id <> :'id'" id="$h0")" 0 "no required response for them"
assert_eq "$(stalled)|$(refused)" "1|6" "CYBH stalled, six refused"
assert_eq "$(since '"bureau CYBH stalled:')" 1 "one warning when it stalled"

# The same request again (a redelivery, or the upstream system sending it again under the same
# request_id) is answered from its row: the same error, replayed, nothing sent.
pl_send auth "${reqs[0]}" >/dev/null
r=$(pl_wait_reply_nth auth "${hung[0]}" 2 60) || fail "no second reply for ${hung[0]}"
assert_json .status error "$r"
assert_json .replayed true "$r"
assert_eq "$(pl_ledger_count "${hung[0]}")" 0 "still nothing at the bureau"

# The hung call times out: its outcome is unknown (a required response), its slot free. CYBH has
# nothing in flight and nothing waiting: the stall is over (logged at info: it has not answered
# since it stalled), and its gauge is back to 0.
r=$(pl_wait_reply auth "$h0" 120) || fail "no reply for $h0"
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(status_of "$h0")" unknown "the hung call's row unknown"
assert_eq "$(stalled)|$(refused)" "0|6" "nothing in flight or waiting: no longer stalled"
assert_eq "$(since '"bureau CYBH has no call in flight and none waiting: no longer stalled')" 1 \
    "one info line when the stall ended"

# A request takes the free slot as any, and is answered.
h7=bsh7-$run
pl_send auth "$(pl_request auth "$h7" 32.00 '.service = "CYBH"')" >/dev/null
pl_expect_approved_once 90 "$h7"
assert_eq "$(stalled)|$(refused)" "0|6" "CYBH answers: its gauge back to 0"
assert_eq "$(since '"bureau CYBH answers again: its first answer since it stalled')" 1 \
    "one warning when it answered"
assert_eq "$(since 'no longer stalled')" 1 "the stall ended once"
assert_eq "$(since '"bureau CYBH stalled:')" 1 "and one only when it stalled"
pass "a bureau that answers nothing costs the others PAYLINK_SLOT_WAIT_MAX_MS once"
