#!/usr/bin/env bash
# Back-pressure when nothing can start (engine.c, consume): paylink-auth with two requests in
# flight at most (a backlog of four) and its bureau held. The backlog fills, no request starts,
# and after two seconds the request partitions are paused (paylink_consumer_pauses_total), so
# that the worker takes nothing more while it still serves the consumer group; once the bureau
# answers, the partitions are resumed and every request is answered, once. (While requests do
# start, a full backlog pauses nothing: the next requests wait in librdkafka's queue, and no
# resume delay or partition order costs the worker anything — docs/perf/ROUNDS.md, nineteenth
# round.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# One slot and a 60 s response time (the held call must outlast the test), two in flight.
pl_one_cyb_slot PAYLINK_MAX_IN_FLIGHT=2

# A first call opens the worker's connection to the bureau (the held call waits on the
# simulator's answer, the bureau's 60 s response time, not on a TLS handshake).
pl_warm_auth "wu-$run"
assert_eq "$(pl_metric paylink_consumer_pauses_total)" 0 "no pause before the test"

pl_sim_pause
ids=()
for i in $(seq 1 10); do
    ids+=("bf$i-$run")
    pl_send auth "$(pl_request auth "bf$i-$run" "$((60 + i)).00")" >/dev/null
done
# Two in flight (one at the bureau, one waiting for its slot), four consumed behind them.
full() { [ "$(pl_metric paylink_in_flight)" = 2 ] && [ "$(pl_metric paylink_backlog)" -ge 4 ]; }
pl_eventually 60 full ||
    fail "expected 2 in flight and a full backlog; got $(pl_metric paylink_in_flight) and $(pl_metric paylink_backlog)"
paused() { [ "$(pl_metric paylink_consumer_pauses_total)" -ge 1 ]; }
pl_eventually 60 paused ||
    fail "the partitions were not paused: $(pl_metric paylink_consumer_pauses_total) pauses"
pass "a backlog full with nothing starting pauses the partitions"

pl_sim_resume
pl_expect_approved_once 120 "${ids[@]}"
pass "resumed: every request answered, once"
