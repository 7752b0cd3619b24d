#!/usr/bin/env bash
# The resolver's timeout reversal (<request_id>.tor) of a CyberSource authorization the bureau
# applied but whose answer was lost (the simulator's 905), when an operator settled that
# authorization after the resolver asked for the reversal and before paylink-reversal took it up
# (paylink-reversal lagging or stopped): the reversal still goes and releases the funds at the
# bureau, which nothing else would.
#   - `wreq resolve --outcome error`, as the resolver tells an operator to while the reversal is
#     in flight: the reversal goes as for an unknown outcome (by the identifier the
#     authorization was sent with), the authorization stays `error`;
#   - `wreq resolve --outcome rejected --transaction-id T` (Decision Manager's reject as read in
#     its case management): no reversal of its own is published (the timeout reversal releases
#     it), and the timeout reversal reverses it by T; the authorization becomes `reversed`.
# Before, both were refused ("the authorization's outcome is known now") and the authorization
# kept holding the cardholder's funds. paylink-reversal has no row of the reversal when the
# operator resolves (as when the resolver's publish of it failed): `wreq resolve` publishes it
# again with the final reply, since a resolved row is no longer followed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pl_hold_resolver
rr() { pl_sql "SELECT $1 FROM required_response WHERE request_id = :'id'" id="$2"; }
auth_col() { pl_sql "SELECT $1 FROM cc_auth_trans WHERE request_id = :'id'" id="$2"; }
# asked AUTH_REQUEST_ID: its required response records the timeout reversal asked for, as the
# resolver's safe step does before it publishes it.
asked() {
    pl_sql "UPDATE required_response SET reversal_request_id = :'rev', reversal_requested_at = now()
        WHERE request_id = :'id'" id="$1" rev="$1.tor" >/dev/null
}

# e1: the simulator's 905 (applied, never answered). j1: applied at once and answered 8 s late,
# after the worker gave up at the bureau's 5 s (its amount picks no scenario, so the reversal by
# transaction id below is answered as any other).
e1="tse-$run" j1="tsj-$run"
pl_on_exit pl_sim_latency 0
pl_sim_latency 8000
pl_send auth "$(pl_request auth "$e1" 905.10)"
pl_send auth "$(pl_request auth "$j1" 60.20)"
for id in "$e1" "$j1"; do
    r=$(pl_wait_reply auth "$id" 60) || fail "no reply for $id"
    assert_json .status timeout "$r"
    assert_json .required_response true "$r"
    assert_eq "$(pl_ledger_count "$id" auth)" 1 "$id authorized by the bureau"
    asked "$id"
done
pl_sim_latency 0

# ---- settled error ------------------------------------------------------------------------------
"$PL_CTL" wreq resolve "$(rr id "$e1")" --outcome error --by ops \
    --note "no answer from the bureau's support" >/dev/null || fail "resolve $e1 as error"
assert_eq "$(auth_col status "$e1")" error "$e1 settled error"
r=$(pl_wait_reply reversal "$e1.tor" 60) || fail "no reply for $e1.tor"
assert_json .status approved "$r"
assert_eq "$(pl_ledger_count "$e1.tor" reversal)" 1 "$e1 reversed at the bureau"
assert_eq "$(pl_sql "SELECT status || '|' || coalesce(claim_amount::text, 'none') FROM auth_reversal
    WHERE request_id = :'id'" id="$e1.tor")" "approved|none" "the timeout reversal, claiming nothing"
assert_eq "$(auth_col status "$e1")" error "$e1 still error"

# ---- settled rejected ---------------------------------------------------------------------------
tx=$(pl_ledger | jq -r --arg ref "$j1" '[.[] | select(.ref == $ref and .op == "auth")][0].bureau_id')
[ -n "$tx" ] && [ "$tx" != null ] || fail "no bureau id for $j1"
"$PL_CTL" wreq resolve "$(rr id "$j1")" --outcome rejected --transaction-id "$tx" --by ops \
    --note "rejected in case management" >/dev/null || fail "resolve $j1 as rejected"
assert_eq "$(auth_col "status || '|' || ((followups -> 0 ->> 'payload')::jsonb ->> 'request_id')" "$j1")" \
    "rejected|$j1.tor" "$j1 rejected, with its timeout reversal and no reversal of its own"
r=$(pl_wait_reply reversal "$j1.tor" 60) || fail "no reply for $j1.tor"
assert_json .status approved "$r"
assert_eq "$(pl_ledger_count "$j1.tor" reversal)" 1 "$j1 reversed at the bureau"
assert_eq "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" \
    id="$j1")" reversed "$j1 reversed"

# ---- the order system's reversal of an authorization whose outcome is unknown ----------------
# (k1: applied at once, answered 8 s late: unknown.) The order is cancelled: the order system's
# reversal goes as CyberSource's timeout reversal, and becomes the reversal the authorization's
# required response follows, as the resolver's `.tor` does: approving the authorization after it
# is refused, as it is after the resolver's own (a late approval is held the same way, 049).
# Before, nothing recorded it: the resolver or a late answer recorded the authorization approved
# and capturable, and told the order system so, while the bureau had released it.
k1="tsk-$run"
k1req=$(pl_request auth "$k1" 60.30)
pl_sim_latency 8000
pl_send auth "$k1req"
r=$(pl_wait_reply auth "$k1" 60) || fail "no reply for $k1"
assert_json .status timeout "$r"
pl_sim_latency 0
c1="tsc-$run"
pl_send reversal "$(jq -nc --arg id "$c1" --arg order "$(jq -r .order <<<"$k1req")" --arg auth "$k1" '{v: 1,
    request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1, service: "CYB",
    amount: "30.00", currency: "USD", auth_ref: {request_id: $auth}}')"
r=$(pl_wait_reply reversal "$c1" 60) || fail "no reply for $c1"
assert_json .status approved "$r"
# For what the authorization was sent for, not the 30.00 the request named: it releases the
# authorization whole, as the resolver's own `.tor` would (which the required response now
# takes it for).
assert_eq "$(pl_ledger | jq -r --arg ref "$c1" '[.[] | select(.ref == $ref and .op == "reversal")][0].amount')" \
    60.30 "the timeout reversal went for the authorization's amount"
assert_eq "$(rr reversal_request_id "$k1")" "$c1" "$k1's required response follows the order system's reversal"
tx=$(pl_ledger | jq -r --arg ref "$k1" '[.[] | select(.ref == $ref and .op == "auth")][0].bureau_id')
if out=$("$PL_CTL" wreq resolve "$(rr id "$k1")" --outcome approved --transaction-id "$tx" --by ops 2>&1); then
    fail "$k1 approved after the bureau released it: $out"
fi
assert_contains "$out" "has released it" "the refusal"
assert_eq "$(auth_col status "$k1")" unknown "$k1 not recorded approved"

# ---- still refused once the outcome is approved ----------------------------------------------
# (unit: test_reversal_spec test_timeout_reversal_after_settled_is_refused)
pass "timeout reversals of authorizations an operator settled error or rejected release them"
