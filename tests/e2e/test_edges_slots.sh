#!/usr/bin/env bash
# Issue 6 A.5: a request is marked sent only when it is about to be sent. With the bureau's
# concurrency cap at 1 (auth_service.max_concurrent), four requests arrive together: one is at
# the bureau, three wait for the slot — and those three are still 'received'. A crash then
# leaves them re-sendable: after the restart they are sent and approved; only the one whose
# bytes may have reached the bureau becomes a required response. A graceful stop does not
# start them either, nor does a revoke for the requests of the partitions it gives up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# A long response time and bureau delay: the moment with one request at the bureau and three
# waiting lasts, however slow the machine.
cap=$(pl_sql "SELECT response_time_ms FROM auth_service WHERE service_bureau = 'CYB'")
# (Every start of paylink-auth here lets requests wait for the slot however long its call is
# held, PAYLINK_SLOT_WAIT_MAX_MS=0, as pl_one_cyb_slot does: a held call answers nothing, and a
# loaded box could otherwise reach the bound first. test_edges_bureau_stall tests the bound.)
pl_one_cyb_slot

# sent|received of this run's requests named PREFIX<n>-<run>.
counts() {
    pl_sql "SELECT count(*) FILTER (WHERE status = 'sent') || '|' ||
                   count(*) FILTER (WHERE status = 'received') FROM cc_auth_trans
             WHERE request_id LIKE '${prefix}_-$run'"
}
one_at_bureau() { [ "$(counts)" = "1|3" ]; }
# send_four PREFIX TENS: four authorizations (TENS1.00 .. TENS4.00) sent together, into ids;
# returns once one is at the bureau and three wait for its slot, recorded 'received'. One
# producer sends the four (keyed as paylinkctl keys them): sent one by one, a loaded box could
# spread them over more than the first call's time at the bureau, and the moment never came.
# When it does not come, the worker's group changes since the send are shown (a rebalance gives
# the waiting requests up for redelivery, so the three are never all 'received' at once).
send_four() {
    prefix=$1
    ids=()
    local from req
    from=$(($(wc -l <"$PAYLINK_LOG_DIR/paylink-auth.log") + 1))
    for i in 1 2 3 4; do ids+=("$1$i-$run"); done
    for i in 1 2 3 4; do
        req=$(pl_request auth "$1$i-$run" "$2$i.00")
        printf '%s|%s\n' "$(jq -r '"\(.company)-\(.order)"' <<<"$req")" "$req"
    done | kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -K '|'
    pl_eventually 60 one_at_bureau || {
        tail -n "+$from" "$PAYLINK_LOG_DIR/paylink-auth.log" | grep -E 'assigned|revok|stopp' >&2 || true
        fail "expected 1 sent and 3 received, got $(counts)"
    }
}

pl_sim_latency 30000
send_four slot 6
pass "one request at the bureau, three waiting for its slot still 'received'"

pl_worker_stop auth KILL
pl_sim_latency 0
# Back to the demo's response time: the request left at the bureau is presumed abandoned that
# long (+ 10 s) after it was marked sent.
pl_sql "UPDATE auth_service SET response_time_ms = $cap WHERE service_bureau = 'CYB'" >/dev/null
pl_worker_start auth PAYLINK_SLOT_WAIT_MAX_MS=0

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

# A graceful stop (SIGTERM) finishes the call at the bureau but does not start the three waiting
# for its slot: sent now, a stop's deadline could cut their calls short and leave them unknown.
# They stay 'received', unsent, and are sent once the worker runs again.
# The first call must still be at the bureau when the stop comes, however slow the machine: the
# simulator is frozen (SIGSTOP) once it has the call, and thawed only after the worker has
# logged its stop; it answers at once then (its 10 s are over or nearly), within a response
# time of 60 s and a drain of 30 s; pl_worker_stop waits 20 s before it kills. (A bureau delay
# alone once ran out while a loaded box was still getting to the stop.)
pl_sql "UPDATE auth_service SET response_time_ms = 60000 WHERE service_bureau = 'CYB'" >/dev/null
pl_worker_stop auth
pl_worker_start auth PAYLINK_SLOT_WAIT_MAX_MS=0 PAYLINK_DRAIN_TIMEOUT_MS=30000
pl_sim_latency 10000
send_four stop 5
pl_sim_pause
first=$(pl_sql "SELECT request_id FROM cc_auth_trans WHERE request_id LIKE 'stop_-$run' AND status = 'sent'")
stopped() { grep -c '"paylink-auth stopped"' "$PAYLINK_LOG_DIR/paylink-auth.log" || true; }
stopping() { grep -cE '"stopping: [0-9]+ request\(s\) in flight"' "$PAYLINK_LOG_DIR/paylink-auth.log" || true; }
before=$(stopped) stopping_before=$(stopping)
pl_worker_stop auth &
stopper=$!
took_stop() { [ "$(stopping)" -gt "$stopping_before" ]; }
pl_eventually 60 took_stop || fail "the worker did not log its stop with the call in flight"
pl_sim_resume
wait "$stopper"
# It stopped by itself once the call was finished: the requests left for redelivery do not hold
# the consumer's close (its revoke drain waits for live requests only).
assert_eq "$(stopped)" "$((before + 1))" "the worker stopped by itself, not killed"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$first")" approved \
    "the call at the bureau was finished"
assert_eq "$(counts)" "0|3" "the three waiting were not sent"
sent=0
for id in "${ids[@]}"; do sent=$((sent + $(pl_ledger_count "$id" auth))); done
assert_eq "$sent" 1 "one authorization at the bureau when the worker stopped"
assert_contains "$(cat "$PAYLINK_LOG_DIR/paylink-auth.log")" "3 request(s) waiting for a bureau slot left for redelivery" \
    "the stop says so"
pl_sim_latency 0
pl_sql "UPDATE auth_service SET response_time_ms = $cap WHERE service_bureau = 'CYB'" >/dev/null
pl_worker_start auth PAYLINK_SLOT_WAIT_MAX_MS=0
pl_expect_approved_once 90 "${ids[@]}"
pass "a graceful stop leaves requests waiting for a bureau slot to be redelivered"

# A partition revoked while requests of it wait for the slot: they are given up for the
# partition's next owner — here a second replica joining the group — not sent by this worker
# during its revoke drain or after it (a call started there races the next owner, and the
# drain's deadline could cut it short). 24 requests of 24 orders (spread over the partitions),
# the bureau 2 s a call, one call at a time in each process.
pl_sql "UPDATE auth_service SET response_time_ms = 60000 WHERE service_bureau = 'CYB'" >/dev/null
pl_worker_stop auth
pl_worker_start auth PAYLINK_SLOT_WAIT_MAX_MS=0
pl_sim_latency 2000
n=24
ids=()
for ((i = 1; i <= n; i++)); do ids+=("rvk$i-$run"); done
for ((i = 1; i <= n; i++)); do
    printf '1-RVK%s%s|%s\n' "$run" "$i" \
        "$(pl_request auth "rvk$i-$run" "7.$((10 + i))" ".order = \"RVK$run$i\"")"
done | kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -K '|'
rvk_at_bureau() {
    [ "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'rvk%-$run' AND status = 'sent'")" -ge 1 ]
}
pl_eventually 60 rvk_at_bureau || fail "no request at the bureau"
log2="$PAYLINK_LOG_DIR/paylink-auth-slots2.log"
(. "${PAYLINK_ENV_FILE:-$PAYLINK_DEV_DIR/env}"; PAYLINK_METRICS_PORT=0 PAYLINK_INSTANCE="slots2-$run" \
    exec "$PAYLINK_BIN/paylink-auth") >>"$log2" 2>&1 &
pid2=$!
pl_on_exit "kill $pid2 2>/dev/null"
pl_eventually 60 grep -q '"assigned' "$log2" || fail "the second replica never got partitions"
replies=$(pl_wait_replies auth 240 "${ids[@]}") || fail "not every request answered"
assert_eq "$(jq -s 'map(select(.status == "approved")) | length' <<<"$replies")" "$n" "every request approved"
for id in "${ids[@]}"; do
    assert_eq "$(pl_ledger_count "$id" auth)" 1 "$id authorized once" >/dev/null
done
pass "each of the $n authorized once"
# Each went out as its own message, the ones that waited for the slot too: a request waiting
# for a slot lets its message go and has it built again when its turn comes (engine.c
# slot_take, slot_release). The bureau saw each request's own amount, and its reply says it.
ledger=$(pl_ledger)
for ((i = 1; i <= n; i++)); do
    want="7.$((10 + i))"
    assert_eq "$(jq --arg ref "rvk$i-$run" --arg want "$want" \
        '[.[] | select(.ref == $ref and .op == "auth") | (.amount | tonumber) == ($want | tonumber)] == [true]' \
        <<<"$ledger")" true "rvk$i: its own amount at the bureau" >/dev/null
    assert_eq "$(jq -s --arg id "rvk$i-$run" --arg want "$want" \
        'map(select(.request_id == $id) | (.amount_approved | tonumber) == ($want | tonumber)) == [true]' \
        <<<"$replies")" true "rvk$i: its own amount approved" >/dev/null
done
pass "each request's own message reached the bureau, those built again after waiting too"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'rvk%-$run'")" 0 \
    "no required responses"
assert_contains "$(cat "$PAYLINK_LOG_DIR/paylink-auth.log")" "left for the partitions' next owner" \
    "the revoke gave the waiting requests up"
# (The log line is what tells the old code apart: it started them itself, through its drain.)
by2=$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'rvk%-$run' AND sent_by LIKE 'slots2-$run/%'")
[ "$by2" -ge 1 ] || fail "the second replica sent none of the revoked partitions' requests"
pass "the second replica sent $by2 of them"
kill -TERM "$pid2"
for i in $(seq 1 300); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
wait "$pid2" || fail "the second replica exited with an error"
pl_sim_latency 0
pass "a revoked partition's requests waiting for a bureau slot go to its next owner"

# An operator who raises the cap moves the requests already waiting for a slot at once, not one
# by one as slow calls finish (each went by the cap it read when it arrived; and a refresh did
# not look at the queue at all). The call at the bureau is frozen there (the simulator paused
# once it has it), so without the new cap nothing could move: once the worker has read the cap
# of 4 (a configuration refresh a second here), none of the four is left 'received'.
pl_worker_stop auth
pl_worker_start auth PAYLINK_SLOT_WAIT_MAX_MS=0 PAYLINK_CONFIG_REFRESH_S=1
pl_warm_auth "warm-raise-$run"
pl_sim_latency 10000
send_four raise 8
pl_sim_pause
pl_sql "UPDATE auth_service SET max_concurrent = 4 WHERE service_bureau = 'CYB'" >/dev/null
# (3|0 when the first call was answered before the pause: a loaded box.)
none_waiting() { [[ $(counts) =~ ^[34]\|0$ ]]; }
pl_eventually 60 none_waiting || fail "the raised cap did not start the waiting requests: $(counts)"
pl_sim_resume
pl_sim_latency 0
pass "a raised cap starts the requests waiting for a slot at once"
# The three started while the simulator was frozen may have given up in their TLS handshake
# (connection never made: error, nothing charged); none is charged twice, and what was approved
# was charged once.
for id in "${ids[@]}"; do
    r=$(pl_wait_reply auth "$id" 120) || fail "no reply for $id"
    case $(jq -r .status <<<"$r") in
    approved) assert_eq "$(pl_ledger_count "$id" auth)" 1 "$id authorized once" >/dev/null ;;
    error) assert_eq "$(pl_ledger_count "$id" auth)" 0 "$id never reached the bureau" >/dev/null ;;
    *) fail "unexpected reply for $id: $r" ;;
    esac
done
pass "each of the four answered, none charged twice"
