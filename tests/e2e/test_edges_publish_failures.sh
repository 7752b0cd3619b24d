#!/usr/bin/env bash
# Issue 6 A.3: a publish that can never succeed is not retried forever.
#   1b. The broker refuses the reply as not authorized (TOPIC_AUTHORIZATION_FAILED, which an
#      operator can end): retried, the reply published once it is allowed; a worker whose
#      replies stay refused stops after about eight minutes (common/engine.c) to be restarted.
#   1. The broker refuses the worker's reply as too large (MESSAGE_TOO_LARGE: a reply is never
#      cut, so this cannot succeed): the reply is dropped with an error log,
#      paylink_publish_dropped_total and a dead-letter copy of the request, the request's offset
#      is released, and the next request on
#      the same partition is answered.
#   2. The broker fails it with OUT_OF_ORDER_SEQUENCE_NUMBER, fatal to an idempotent producer:
#      the worker says so, stops by itself so it is restarted, and its request — whose offset
#      was not committed — is redelivered and answered from its row after the restart.
# Both faults are injected inside the Kafka protocol, which Apache Kafka cannot be made to do:
# the test runs its own paylink-devbroker (librdkafka's mock cluster) and its own paylink-auth
# replica ("pf", consumer group paylink-auth-pf) on it, beside the environment's broker and
# workers; the database and the simulator are the environment's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
mock_dir=$PAYLINK_RUN_DIR/pf-devbroker-$run
mkdir -p "$mock_dir"
"$PAYLINK_TOOLS_BIN/paylink-devbroker" --partitions 8 --prefix "$PAYLINK_TOPIC_PREFIX" \
    --bootstrap-file "$mock_dir/bootstrap" --control-port 0 \
    --control-port-file "$mock_dir/control-port" >>"$PAYLINK_LOG_DIR/pf-devbroker.log" 2>&1 &
mock_pid=$!
pl_on_exit "kill $mock_pid 2>/dev/null || true; rm -rf '$mock_dir'"
mock_up() { [ -s "$mock_dir/bootstrap" ] && [ -s "$mock_dir/control-port" ]; }
pl_eventually 30 mock_up || fail "the test's dev broker did not start"
# From here on every helper (pl_send, pl_wait_reply, kcat, paylinkctl) talks to the mock.
export PAYLINK_KAFKA_BROKERS=$(<"$mock_dir/bootstrap")
export PAYLINK_BROKER_CONTROL_URL=http://127.0.0.1:$(<"$mock_dir/control-port")
port=$((PAYLINK_AUTH_METRICS_PORT + 57))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
pf_log=$PAYLINK_LOG_DIR/paylink-auth-pf.log
pf_start() { pl_replica_start auth pf PAYLINK_METRICS_PORT=$port PAYLINK_KAFKA_FETCH_WAIT_MS=10; }
# Its bureau: CYB's copy with a 60 s response time, so that a call held at the paused simulator
# (below) cannot time out meanwhile.
pl_clone_bureau CYBP '{"description": "test_edges_publish_failures", "response_time_ms": 60000}' CYB none
pf_start
metric() { pl_metric "$1" "$port"; }
produce_errors() { curl -sf -X POST "$PAYLINK_BROKER_CONTROL_URL/errors?code=$1&count=1" >/dev/null; }
is_sent() { [ "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$1")" = sent ]; }

# ---- 1. a message that can never be published ----------------------------------------------------
dropped=$(metric paylink_publish_dropped_total)
ord="PF$run"
id="perm-$run"
# The error must be armed before the answer comes back, however slow the box: the simulator is
# paused from before the request until the error is set (a bureau delay alone is a time the
# test's own steps could outrun). A first call opens the replica's connection to the bureau, so
# that the held one waits on CYBP's 60 s response time, not on a TLS handshake's 10 s.
warm="warm-$run"
pl_send auth "$(pl_request auth "$warm" 70.00 '.service = "CYBP"')"
assert_json .status approved "$(pl_wait_reply auth "$warm" 60)"
pl_sim_pause
pl_send auth "$(pl_request auth "$id" 71.00 ".order = \"$ord\" | .service = \"CYBP\"")"
pl_eventually 60 is_sent "$id" || fail "$id was never sent"
produce_errors 10 # MESSAGE_TOO_LARGE: the next Produce request (the worker's reply)
pl_sim_resume
more_dropped() { [ "$(metric paylink_publish_dropped_total)" -gt "$dropped" ]; }
pl_eventually 60 more_dropped || fail "the unpublishable reply was not dropped"
pass "the reply the broker refused for good was dropped, not retried forever"
grep -q "can never succeed" "$pf_log" || fail "no error log for the dropped reply"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$id")" approved \
    "the outcome is in the database"
# The request goes where an operator looks: a dead-letter copy saying why (before, only the log
# line and the counter told of it).
dlq=$(pl_dlq auth "$id" 60) || fail "no dead-letter copy of $id, whose reply was dropped"
assert_contains "$dlq" "its reply could not be published" "the dead-letter copy"
# The partition goes on: the next request of the order is answered, and the commit passes both.
id2="perm2-$run"
pl_send auth "$(pl_request auth "$id2" 72.00 ".order = \"$ord\" | .service = \"CYBP\"")"
assert_json .status approved "$(pl_wait_reply auth "$id2" 60)"
where=$(kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -o beginning -e -q "${PL_KCAT_EOF[@]}" -f '%p %o %k\n' 2>/dev/null |
    awk -v k="1-$ord" '$3 == k {print $1, $2}' | tail -n 1)
part=${where% *} off=${where#* }
passed() {
    [ "$("$PL_CLIENT" offsets --worker auth --group paylink-auth-pf |
        jq -r --argjson p "$part" 'select(.partition == $p) | .committed')" -gt "$off" ]
}
pl_eventually 60 passed || fail "partition $part did not commit past $off"
pass "the partition committed past both"

# ---- 1b. a failure an operator ends -----------------------------------------------------------------
# TOPIC_AUTHORIZATION_FAILED (an ACL rollout, a topic not created yet) is retried, not dropped:
# once the topic is writable again, the reply goes out.
dropped=$(metric paylink_publish_dropped_total)
id="acl-$run"
pl_sim_pause
pl_send auth "$(pl_request auth "$id" 74.00 '.service = "CYBP"')"
pl_eventually 60 is_sent "$id" || fail "$id was never sent"
produce_errors 29 # TOPIC_AUTHORIZATION_FAILED: the next Produce request (the worker's reply)
pl_sim_resume
assert_json .status approved "$(pl_wait_reply auth "$id" 60)"
assert_eq "$(metric paylink_publish_dropped_total)" "$dropped" "nothing dropped"
grep -q "not writable by this worker; retrying" "$pf_log" || fail "no error log for the refused reply"
pass "a reply refused until an operator acts is retried"

# ---- 2. a fatal producer error -------------------------------------------------------------------
id="fatal-$run"
pid=$(<"$PAYLINK_RUN_DIR/paylink-auth-pf.pid")
pl_sim_pause
pl_send auth "$(pl_request auth "$id" 73.00 '.service = "CYBP"')"
pl_eventually 60 is_sent "$id" || fail "$id was never sent"
produce_errors 45 # OUT_OF_ORDER_SEQUENCE_NUMBER on a first attempt: fatal to an idempotent producer
pl_sim_resume
gone() { ! kill -0 "$pid" 2>/dev/null; }
pl_eventually 60 gone || fail "the worker did not stop after a fatal producer error"
grep -q "kafka producer fatal error" "$pf_log" || fail "no log of the fatal error"
pass "a fatal producer error stops the worker (/healthz fails meanwhile: tests/unit/test_metrics.c)"
pf_start
r=$(pl_wait_reply auth "$id" 60) || fail "no reply for $id after the restart"
assert_json .status approved "$r"
assert_eq "$(pl_ledger_count "$id" auth)" 1 "authorized once"
pass "publishes that can never succeed end, and the partition goes on"
