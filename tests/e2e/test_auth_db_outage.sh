#!/usr/bin/env bash
# PostgreSQL connections die while calls are in flight (pg_terminate_backend, repeatedly): the
# worker reconnects and re-sends its pending units, which are written to be harmless twice (a
# re-sent "mark sent" recognises its own attempt, 007_sent_by.sql). Every request ends approved
# with exactly one authorization; none is charged twice and none becomes a false alarm.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
n=30
trap 'pl_sim_latency 0' EXIT
pl_sim_latency 700
for ((i = 0; i < n; i++)); do
    printf '1-DB%s%s|%s\n' "$run" "$i" \
        "$(pl_request auth "dbo-$run-$i" 34.00 ".mode = \"batch\" | .order = \"DB$run$i\"")"
done | kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic auth)" -K '|'

# paylink-auth's own connection (its pl_db names it so; its resolver's and refresh's are
# paylink-auth-resolver and -refresh): the kills must find it, or the test tests nothing.
killed=0
for k in $(seq 1 8); do
    got=$(pl_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'paylink-auth' AND pid <> pg_backend_pid()")
    killed=$((killed + got))
    sleep 0.5
done
[ "$killed" -gt 0 ] || fail "no connection of paylink-auth was found to kill"
pass "paylink-auth's connection killed $killed times while calls were in flight"

approved=0 unknown=0
ids=()
for ((i = 0; i < n; i++)); do ids+=("dbo-$run-$i"); done
out=$(pl_wait_replies auth 120 "${ids[@]}") || fail "not every request answered"
mapfile -t replies <<<"$out"
# The ledger once every request is answered: what the bureau did for each.
ledger=$(pl_ledger)
for ((i = 0; i < n; i++)); do
    id=${ids[i]} r=${replies[i]}
    charged=$(jq --arg r "$id" '[.[] | select(.op == "auth" and .ref == $r)] | length' <<<"$ledger")
    case $(jq -r .status <<<"$r") in
    approved)
        approved=$((approved + 1))
        [ "$charged" = 1 ] || fail "$id approved but charged $charged times"
        ;;
    timeout)
        unknown=$((unknown + 1))
        [ "$charged" = 0 ] || fail "$id reported unknown but was charged"
        assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id = :'id'" id="$id")" 1 "$id has a required response" >/dev/null
        ;;
    *) fail "$id: unexpected reply $r" ;;
    esac
done
pass "$approved approved once each, $unknown left as required responses, none charged twice"
assert_eq "$approved" "$n" "every request approved through the disconnects"
pass "database connections lost"
