#!/usr/bin/env bash
# Smoke test: the environment tools/dev started is there and answers (no worker needed):
# the broker serves every paylink topic, the database is migrated, the simulator is healthy.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Kafka: every topic of CONTRACT.md §1 exists.
topics=$(kcat -b "$PAYLINK_KAFKA_BROKERS" -L -J -m 10 | jq -r '.topics[].topic') ||
    fail "kcat cannot list the topics of $PAYLINK_KAFKA_BROKERS"
for w in auth deposit reversal svc; do
    for t in request reply request.dlq; do
        assert_contains "$topics" "$(pl_topic "$w" "$t")" "topics"
    done
done
assert_contains "$topics" "$PAYLINK_TOPIC_PREFIX.dm.decision" "topics"

# PostgreSQL: reachable, migrated, nothing pending.
assert_eq "$(pl_sql "SELECT to_regclass('public.schema_migrations') IS NOT NULL")" t \
    "schema_migrations exists"
files=$(find "$PL_ROOT/schema/migrations" -name '[0-9]*_*.sql' | wc -l)
assert_eq "$(pl_sql 'SELECT count(*) FROM schema_migrations')" "$files" "migrations applied"
status=$("$PL_CTL" migrate --status) || fail "paylinkctl migrate --status failed: $status"
assert_not_contains "$status" "pending" "migrate --status"
assert_eq "$(pl_sql 'SELECT current_database()')" paylink "database"

# The bureau simulator: healthy over TLS with the test CA, and its ledger is a JSON array.
curl -sf --cacert "$PAYLINK_SIM_CA" "$PAYLINK_SIM_URL/__sim/health" >/dev/null ||
    fail "simulator health check failed at $PAYLINK_SIM_URL/__sim/health"
pass "simulator healthy at $PAYLINK_SIM_URL"
assert_eq "$(pl_ledger | jq -r type)" array "ledger type"

# paylinkctl reads the broker: a message produced now (to a topic no worker reads) comes back.
id=$(pl_uid smoke)
printf '{"request_id":"%s","note":"smoke"}' "$id" |
    kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$PAYLINK_TOPIC_PREFIX.smoke" -k smoke ||
    fail "kcat cannot produce to $PAYLINK_TOPIC_PREFIX.smoke"
got=$("$PL_CTL" tail --topic "$PAYLINK_TOPIC_PREFIX.smoke" --from-beginning --request-id "$id" \
    --count 1 --timeout 20 2>/dev/null) || fail "paylinkctl tail did not read back $id"
assert_json .note smoke "$got"
# --since D reads what was stamped in the last D: the message is found within the last hour, and
# not within the last second once two have passed (the helpers' pl_wait_reply reads that way).
# Apache Kafka only: librdkafka's mock broker finds no offsets by time.
if [ -z "${PAYLINK_BROKER_CONTROL_URL:-}" ]; then
    got=$("$PL_CTL" tail --topic "$PAYLINK_TOPIC_PREFIX.smoke" --since 1h --request-id "$id" \
        --count 1 --timeout 20 2>/dev/null) || fail "paylinkctl tail --since 1h did not read back $id"
    assert_json .note smoke "$got"
    sleep 2
    rc=0
    "$PL_CTL" tail --topic "$PAYLINK_TOPIC_PREFIX.smoke" --since 1s --request-id "$id" --count 1 \
        --timeout 3 >/dev/null 2>&1 || rc=$?
    assert_eq "$rc" 2 "paylinkctl tail --since 1s: nothing of $id (exit 2: --count not reached)"
fi

# tools/dev status names a paylink process that uses this environment's brokers without being
# one of its own (a worker started by hand: `down` does not stop it, and it would answer part of
# the next environment's requests), and no other: its own workers, or one of another broker's.
tmp=$(mktemp -d)
pl_on_exit "rm -rf '$tmp'"
cp "$(command -v sleep)" "$tmp/paylink-stray"
PAYLINK_KAFKA_BROKERS=$PAYLINK_KAFKA_BROKERS "$tmp/paylink-stray" 120 &
ours=$!
pl_on_exit "kill $ours 2>/dev/null || true"
PAYLINK_KAFKA_BROKERS=127.0.0.1:1 "$tmp/paylink-stray" 120 &
other=$!
pl_on_exit "kill $other 2>/dev/null || true"
out=$(DEV_DIR=$PAYLINK_DEV_DIR "$PL_ROOT/tools/dev" status 2>&1) ||
    fail "tools/dev status failed: $out"
assert_contains "$out" "paylink-stray (pid $ours) uses the brokers of" "status: the stray"
assert_not_contains "$out" "pid $other)" "status: another broker's process"
assert_eq "$(grep -c "paylink-stray (pid $ours)" <<<"$out")" 1 "status: the stray named once"
# None of the environment's own processes (its pid files) is named. Not "exactly one line": a
# process another test of this environment stopped may still be finishing its drain (its pid
# file gone), and naming it is right; the count once failed that way and told nothing more.
strays=$(grep 'but was not started by tools/dev' <<<"$out" || true)
for f in "$PAYLINK_RUN_DIR"/*.pid; do
    [ -s "$f" ] || continue
    assert_not_contains "$strays" "(pid $(<"$f"))" "strays: $(basename "$f" .pid), the environment's own"
done
