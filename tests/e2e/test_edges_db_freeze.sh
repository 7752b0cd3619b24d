#!/usr/bin/env bash
# Issue 6 A.4: the event loop never blocks on the database. PostgreSQL is frozen (SIGSTOP on
# every one of its processes) for 30 s while authorizations are at the bureau, with the
# configuration refresh due every second. The bureau's answers arrive during the freeze: they
# must be stored and replied when the database comes back, not turned into timeouts because a
# synchronous refresh query held the loop while their response time ran out.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
datadir=$(pl_sql "SHOW data_directory")
pm=$(head -n 1 "$datadir/postmaster.pid")
[ -n "$pm" ] && kill -0 "$pm" || fail "cannot find the postmaster"
pg_procs() { echo "$pm" $(pgrep -P "$pm" || true); }
thaw() { kill -CONT $(pg_procs) 2>/dev/null || true; }
pl_on_exit thaw
pl_on_exit "pl_sim_latency 0"
pl_on_exit "pl_worker_stop auth; pl_worker_start auth"

pl_worker_stop auth
pl_worker_start auth PAYLINK_CONFIG_REFRESH_S=1
pl_sim_latency 4000
ids=()
for i in 1 2 3 4 5; do
    ids+=("frz$i-$run")
    pl_send auth "$(pl_request auth "frz$i-$run" "5$i.00")"
done
# Every request recorded and none waiting to be sent; at least one at the bureau (the others may
# be answered already on a slow machine: they only make the test weaker, never wrong).
all_sent() {
    [ "$(pl_sql "SELECT count(*) = 5 AND count(*) FILTER (WHERE status = 'received') = 0
        AND count(*) FILTER (WHERE status = 'sent') > 0
        FROM cc_auth_trans WHERE request_id LIKE 'frz_-$run'")" = t ]
}
pl_eventually 60 all_sent || fail "the requests were not all marked sent"

# Freeze: the postmaster first (it forks no more backends), then every backend.
kill -STOP "$pm"
kill -STOP $(pgrep -P "$pm") 2>/dev/null || true
frozen_at=$SECONDS
pass "PostgreSQL frozen with 5 calls at the bureau"
# Asked what it holds (SIGUSR1), the worker lists its requests with what each waits for: once the
# bureau's answers are in, their outcomes waiting for the frozen database.
pid=$(<"$PAYLINK_RUN_DIR/paylink-auth.pid")
storing() {
    kill -USR1 "$pid"
    sleep 1
    grep -E "\"request_id\":\"frz[0-9]-$run\"" "$PAYLINK_LOG_DIR/paylink-auth.log" |
        grep -q 'storing its outcome: its database unit is '
}
pl_eventually 25 storing || fail "the worker's list of its requests does not say they wait for the database"
pass "the worker says its requests wait for the database"
# (30 s frozen in all)
left=$((30 - (SECONDS - frozen_at)))
((left <= 0)) || sleep "$left"
thaw
pass "PostgreSQL thawed"

for id in "${ids[@]}"; do
    r=$(pl_wait_reply auth "$id" 90) || fail "no reply for $id"
    assert_json .status approved "$r"
    assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$id")" approved "$id stored approved"
done
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'frz_-$run'")" 0 \
    "no answer turned into an unknown outcome"
pass "answers received while the database was frozen are kept"
