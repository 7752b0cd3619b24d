#!/usr/bin/env bash
# Issue 6 A.3: a publish that can never succeed is not retried forever.
#   1. The broker refuses the worker's reply as too large (MESSAGE_TOO_LARGE: a reply is never
#      cut, so this cannot succeed): the reply is dropped with an error log and
#      paylink_publish_dropped_total, the request's offset is released, and the next request on
#      the same partition is answered.
#   2. The broker fails it with OUT_OF_ORDER_SEQUENCE_NUMBER, fatal to an idempotent producer:
#      the worker says so, stops by itself so it is restarted, and its request — whose offset
#      was not committed — is redelivered and answered from its row after the restart.
# Both faults are injected by the dev broker (librdkafka's mock cluster), so the test needs it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -z "${PAYLINK_BROKER_CONTROL_URL:-}" ] || ! curl -sf "$PAYLINK_BROKER_CONTROL_URL/health" >/dev/null; then
    pass "skipped: the broker is not the dev broker (no protocol fault injection)"
    exit 0
fi
run=$(pl_uid)
pl_on_exit "pl_sim_latency 0"
metric() {
    curl -sf "http://127.0.0.1:$PAYLINK_AUTH_METRICS_PORT/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 {print $2}'
}
produce_errors() { curl -sf -X POST "$PAYLINK_BROKER_CONTROL_URL/errors?code=$1&count=1" >/dev/null; }
is_sent() { [ "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$1")" = sent ]; }

# ---- 1. a message that can never be published ----------------------------------------------------
dropped=$(metric paylink_publish_dropped_total)
ord="PF$run"
id="perm-$run"
pl_sim_latency 4000
pl_send auth "$(pl_request auth "$id" 71.00 ".order = \"$ord\"")"
pl_eventually 60 is_sent "$id" || fail "$id was never sent"
produce_errors 10 # MESSAGE_TOO_LARGE: the next Produce request (the worker's reply)
more_dropped() { [ "$(metric paylink_publish_dropped_total)" -gt "$dropped" ]; }
pl_eventually 60 more_dropped || fail "the unpublishable reply was not dropped"
pass "the reply the broker refused for good was dropped, not retried forever"
grep -q "can never succeed" "$PAYLINK_LOG_DIR/paylink-auth.log" || fail "no error log for the dropped reply"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$id")" approved \
    "the outcome is in the database"
pl_sim_latency 0
# The partition goes on: the next request of the order is answered, and the commit passes both.
id2="perm2-$run"
pl_send auth "$(pl_request auth "$id2" 72.00 ".order = \"$ord\"")"
assert_json .status approved "$(pl_wait_reply auth "$id2" 60)"
where=$(kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -o beginning -e -q -f '%p %o %k\n' 2>/dev/null |
    awk -v k="1-$ord" '$3 == k {print $1, $2}' | tail -n 1)
part=${where% *} off=${where#* }
passed() { [ "$(pl_committed auth "$part")" -gt "$off" ]; }
pl_eventually 60 passed || fail "partition $part did not commit past $off"
pass "the partition committed past both"

# ---- 2. a fatal producer error -------------------------------------------------------------------
id="fatal-$run"
pid=$(pl_worker_pid auth)
pl_sim_latency 4000
pl_send auth "$(pl_request auth "$id" 73.00)"
pl_eventually 60 is_sent "$id" || fail "$id was never sent"
produce_errors 45 # OUT_OF_ORDER_SEQUENCE_NUMBER on a first attempt: fatal to an idempotent producer
gone() { ! kill -0 "$pid" 2>/dev/null; }
pl_eventually 60 gone || fail "the worker did not stop after a fatal producer error"
grep -q "kafka producer fatal error" "$PAYLINK_LOG_DIR/paylink-auth.log" || fail "no log of the fatal error"
pass "a fatal producer error stops the worker (/healthz fails meanwhile: tests/unit/test_metrics.c)"
pl_sim_latency 0
pl_worker_start auth
r=$(pl_wait_reply auth "$id" 60) || fail "no reply for $id after the restart"
assert_json .status approved "$r"
assert_eq "$(pl_ledger_count "$id" auth)" 1 "authorized once"
pass "publishes that can never succeed end, and the partition goes on"
