#!/usr/bin/env bash
# An operator who changes how a bureau is reached — its URL moved to a standby, its response
# time, its message log — while requests wait for one of its slots means those requests too,
# not only the ones still to come (engine.c svc_now). Before, a request went by the settings it
# read when it arrived: a backlog behind a failed bureau was sent, request by request, to the
# address the operator had just moved away from.
#
# Here CyberSource has one slot; four authorizations arrive, one at the bureau (frozen there,
# the simulator paused), three waiting for its slot. The operator moves the bureau's URL to an
# address where nothing listens. Once the worker says it has the change, the simulator answers
# the first; the three that waited go to the new address: refused, so `error`, never at the
# simulator (on the old code: approved there). The worker names what changed, and a refresh
# that changes nothing says nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
urls=$(pl_sql "SELECT test_url || ' ' || production_url FROM auth_service WHERE service_bureau = 'CYB'")
# (Exit handlers run in order: the URL is back before pl_one_cyb_slot's restarts the workers.)
pl_on_exit "pl_sql \"UPDATE auth_service SET test_url = '${urls% *}', production_url = '${urls#* }' WHERE service_bureau = 'CYB'\" >/dev/null"
pl_one_cyb_slot PAYLINK_CONFIG_REFRESH_S=1
log="$PAYLINK_LOG_DIR/paylink-auth.log"
pl_warm_auth "warm-cfg-$run"

counts() {
    pl_sql "SELECT count(*) FILTER (WHERE status = 'sent') || '|' ||
                   count(*) FILTER (WHERE status = 'received') FROM cc_auth_trans
             WHERE request_id LIKE 'cfg_-$run'"
}
one_at_bureau() { [ "$(counts)" = "1|3" ]; }
pl_sim_latency 10000
ids=()
for i in 1 2 3 4; do
    ids+=("cfg$i-$run")
    pl_send auth "$(pl_request auth "cfg$i-$run" "9$i.00")"
done
pl_eventually 60 one_at_bureau || fail "expected 1 sent and 3 received, got $(counts)"
pl_sim_pause
first=$(pl_sql "SELECT request_id FROM cc_auth_trans WHERE request_id LIKE 'cfg_-$run' AND status = 'sent'")
pass "one request at the bureau, three waiting for its slot"

changes() { grep -c '"configuration refreshed: bureau CYB: ' "$log" || true; }
before=$(changes)
# Port 1 of the loopback: nothing listens there, a connection is refused at once.
pl_sql "UPDATE auth_service SET test_url = 'https://127.0.0.1:1/commerce/1.x/transactionProcessor',
               production_url = 'https://127.0.0.1:1/commerce/1.x/transactionProcessor'
         WHERE service_bureau = 'CYB'" >/dev/null
took() { [ "$(changes)" -gt "$before" ]; }
pl_eventually 60 took || fail "the worker never said it had the new URL"
assert_contains "$(grep '"configuration refreshed: bureau CYB: ' "$log" | tail -1)" \
    "bureau CYB: url changed" "the worker names the setting that changed"
pass "the worker says it has the new URL"
pl_sim_resume
# (The simulator, asked what it holds, says so and goes on: the e2e helpers' trace asks it.)
sim_said() { grep -c '"SIGUSR1: ' "$PAYLINK_LOG_DIR/paylink-bureau-sim.log" || true; }
said=$(sim_said)
kill -USR1 "$(<"$PAYLINK_RUN_DIR/paylink-bureau-sim.pid")"
told() { [ "$(sim_said)" -gt "$said" ]; }
pl_eventually 30 told || fail "the simulator did not answer SIGUSR1"
assert_contains "$(grep '"SIGUSR1: ' "$PAYLINK_LOG_DIR/paylink-bureau-sim.log" | tail -1)" \
    "answer(s) held back now" "the simulator lists what it holds"
pl_sim_latency 0

r=$(pl_wait_reply auth "$first" 120) || fail "no reply for $first"
assert_json .status approved "$r"
assert_eq "$(pl_ledger_count "$first" auth)" 1 "the call at the bureau was answered there"
for id in "${ids[@]}"; do
    [ "$id" = "$first" ] && continue
    r=$(pl_wait_reply auth "$id" 120) || fail "no reply for $id"
    assert_eq "$(jq -r .status <<<"$r")" error "$id: refused at the new address ($r)"
    assert_eq "$(pl_ledger_count "$id" auth)" 0 "$id never reached the old address"
    assert_contains "$(grep -F "\"$id\"" "$log")" "bureau CYB unreachable: no connection" \
        "$id: the worker says why" >/dev/null
done
assert_eq "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE 'cfg_-$run'")" 0 \
    "no outcome unknown: nothing left for the new address"
pass "the requests that waited for the slot went to the URL the operator set"

# The URL back: said once, and the next authorization is approved at the simulator. Refreshes
# that change nothing (one a second here) say nothing: no more lines after it (a slow box only
# makes this look at fewer refreshes, it cannot fail for it).
before=$(changes)
pl_sql "UPDATE auth_service SET test_url = '${urls% *}', production_url = '${urls#* }'
         WHERE service_bureau = 'CYB'" >/dev/null
pl_eventually 60 took || fail "the worker never said it had the URL back"
pl_warm_auth "back-cfg-$run"
sleep 3
assert_eq "$(changes)" "$((before + 1))" "one change, one line"
pass "the URL back is taken too; a refresh that changes nothing says nothing"

# A replica whose refreshes fail goes on with the settings it has, and says how old they are
# (paylink_config_age_seconds; alert PaylinkConfigStale): a table the loader reads renamed away,
# the age climbs past several refresh intervals (one a second here) and each refresh logs why;
# back, the next refresh loads them again and the age falls.
pl_on_exit "pl_sql 'ALTER TABLE auth_service_country_away RENAME TO auth_service_country' >/dev/null 2>&1 || true"
assert_eq "$(pl_metric paylink_config_refresh_interval_seconds)" 1 "the refresh interval is exported"
failed() { grep -c '"configuration refresh failed' "$log" || true; }
before=$(failed)
pl_sql "ALTER TABLE auth_service_country RENAME TO auth_service_country_away" >/dev/null
# Three refreshes failed after the rename: the settings were last loaded before the first, and
# each came a refresh interval (1 s) after the one before, so the age the loop reports is past
# the interval — an order of events, not a time waited for.
stale() { [ "$(failed)" -ge "$((before + 3))" ]; }
pl_eventually 90 stale || fail "the refreshes did not fail after the rename"
age=$(pl_metric paylink_config_age_seconds)
awk -v a="$age" 'BEGIN {exit !(a >= 1)}' || fail "three refreshes failed, yet the settings' age is $age"
pass "refreshes failing: the worker says so and its settings' age grows past the interval"
# The requests still go, by the settings it has.
pl_warm_auth "stale-cfg-$run"
pl_sql "ALTER TABLE auth_service_country_away RENAME TO auth_service_country" >/dev/null
fresh() { awk -v a="$(pl_metric paylink_config_age_seconds)" -v s="$age" 'BEGIN {exit !(a < s)}'; }
pl_eventually 60 fresh || fail "the settings' age did not fall once refreshes worked ($(pl_metric paylink_config_age_seconds))"
pass "refreshes working again: the age falls back"
