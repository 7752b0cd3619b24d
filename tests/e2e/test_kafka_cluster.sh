#!/usr/bin/env bash
# A three-broker Apache Kafka cluster loses a broker while requests flow: nothing is lost and
# nothing is done twice.
#
# The test starts a cluster of its own (tools/dev _kafka-up: three KRaft nodes, the paylink
# topics replicated three times with min.insync.replicas 2, as production has them) beside the
# environment's broker, and a paylink-auth replica ("cl") on it; the database and the simulator
# are the environment's. Requests go in batches over a few seconds; after the first batches
# broker 2 is killed with SIGKILL (no controlled shutdown: its leaderships, and maybe the
# group coordinator or the active controller, move while the worker and the producer use
# them). Then: every request has exactly one first-hand reply (a redelivery may add one marked
# "replayed"), approved; the simulator's ledger has exactly one authorization per request; no
# required response. Broker 2 then comes back on its storage and rejoins the cluster.
# Skipped on the mock broker (PAYLINK_DEV_BROKER=mock), which is no cluster of processes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${PAYLINK_DEV_BROKER:-kafka}" != kafka ]; then
    pass "skipped: the environment runs the mock broker, not Apache Kafka"
    exit 0
fi
run=$(pl_uid)
n=150
batches=10
cdir=$PAYLINK_DEV_DIR/cluster
cluster() { "$PL_ROOT/tools/dev" _kafka "$cdir" "$@"; }

pl_on_exit "'$PL_ROOT/tools/dev' _env-down '$cdir' >/dev/null 2>&1 || true"
bootstrap=$("$PL_ROOT/tools/dev" _kafka-up "$cdir" 3 | tail -n 1) ||
    fail "the three-broker cluster did not start (logs: $cdir/logs)"
[[ $bootstrap == *,*,* ]] || fail "no bootstrap list of three brokers: $bootstrap"
# From here on every helper (pl_send, pl_messages, kcat, paylinkctl) talks to the cluster.
export PAYLINK_KAFKA_BROKERS=$bootstrap

meta=$(kcat -b "$bootstrap" -L -t "$(pl_topic auth)")
assert_eq "$(grep -c '^  broker [0-9]* at ' <<<"$meta")" 3 "brokers in the cluster"
assert_eq "$(grep -c 'replicas: [0-9]*,[0-9]*,[0-9]*, isrs:' <<<"$meta")" 32 \
    "request partitions with three replicas"
pass "three brokers, the request topic replicated three times"

port=$((PAYLINK_AUTH_METRICS_PORT + 61))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
pl_replica_start auth cl PAYLINK_METRICS_PORT=$port
pl_sim_latency 300
pl_on_exit "pl_sim_latency 0"

send_batch() { # from to
    local i
    for ((i = $1; i < $2; i++)); do
        printf '1-KC%s%s|%s\n' "$run" "$i" \
            "$(pl_request auth "kc-$run-$i" 31.00 ".mode = \"batch\" | .order = \"KC$run$i\"")"
    done | kcat -P -b "$bootstrap" -t "$(pl_topic auth)" -K '|'
}
per=$((n / batches))
for ((b = 0; b < batches; b++)); do
    send_batch $((b * per)) $(((b + 1) * per))
    if ((b == 2)); then
        # Calls in flight, replies being published: broker 2 dies.
        answered() { [ "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'kc-$run-%' AND status <> 'received'")" -gt 0 ]; }
        pl_eventually 60 answered || fail "no request was taken before the kill"
        cluster kill 2
        pass "broker 2 killed with requests in flight"
    fi
    sleep 0.5
done

# Every request answered. This run's replies only: the cluster's reply topic keeps those of an
# earlier run on a long-lived environment (300 of 150 "answered" there).
replies() { pl_messages "$(pl_topic auth reply)" | jq -Rc --arg p "kc-$run-" 'fromjson? | select(.request_id? | startswith($p))'; }
all_answered() {
    [ "$(replies | jq -r '.request_id' | sort -u | wc -l)" -eq "$n" ]
}
pl_eventually 180 all_answered ||
    fail "only $(replies | jq -r '.request_id' | sort -u | wc -l) of $n requests answered"
pass "all $n requests answered with a broker gone"
got=$(replies)
assert_eq "$(jq -r 'select(.replayed != true) | .request_id' <<<"$got" | sort | uniq -d | wc -l)" 0 \
    "requests answered first-hand twice"
assert_eq "$(jq -r 'select(.replayed != true) | .request_id' <<<"$got" | sort -u | wc -l)" "$n" \
    "requests answered first-hand"
assert_eq "$(jq -r 'select(.replayed != true) | .status' <<<"$got" | sort -u)" approved "status"
echo "# replies marked replayed: $(jq -r 'select(.replayed == true)' <<<"$got" | grep -c request_id || true)"
ledger=$(pl_ledger)
assert_eq "$(jq --arg p "kc-$run-" '[.[] | select(.op == "auth" and (.ref | startswith($p)))] | length' <<<"$ledger")" \
    "$n" "authorizations in the simulator's ledger"
assert_eq "$(jq --arg p "kc-$run-" '[.[] | select(.op == "auth" and (.ref | startswith($p))) | .ref] | group_by(.) | map(select(length > 1)) | length' <<<"$ledger")" \
    0 "requests authorized more than once"
assert_eq "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'kc-$run-%' AND status = 'approved'")" \
    "$n" "rows approved"
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'kc-$run-%'")" 0 \
    "required responses"
pass "no request lost, none charged twice"

cluster start 2
assert_eq "$(kcat -b "$bootstrap" -L | grep -c '^  broker [0-9]* at ')" 3 "brokers after the restart"
pass "broker 2 rejoined on its storage"
pass "three-broker cluster"
