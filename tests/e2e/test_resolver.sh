#!/usr/bin/env bash
# The resolver of unknown outcomes (common/resolver.h) on the running system, every worker's:
#   - a CyberSource auth applied by the bureau whose answer was lost (905) is asked about
#     (On-Demand Single Transaction Query against the simulator) and resolved approved: the
#     rows say so as if the answer had come in time, the upstream system gets a second, final
#     reply ("resolved": true, "resolution": "query"), the bureau authorized once;
#   - an auth the bureau never got (901) is resolved `error` once the bureau's "no record" is
#     believed: nothing was charged;
#   - a reversal whose answer came too late is resolved approved and releases its authorization;
#   - an authorization Decision Manager rejected (481) whose answer came too late is resolved
#     rejected and reversed through paylink-reversal, as paylink-auth does in time; an
#     auth+capture answered too late is resolved approved and the authorization it replaced is
#     reversed, as paylink-deposit does in time;
#   - a deposit that cannot be confirmed (the query keeps failing) is escalated after the
#     policy's last query, never captured twice;
#   - an authorization that cannot be confirmed is reversed (CyberSource's timeout authorization
#     reversal, through paylink-reversal): applied by the bureau → reversed, the authorization
#     settled `error` ("resolution": "timeout_reversal"); never got → 242, settled `error`;
#   - stored value (RLT) and External Payment Service rows are escalated at the first step (the
#     bureau cannot be asked);
#   - two replicas resolve each row once; a replica killed while it holds a row leaves it to the
#     other when its lease expires.
# tools/dev's test profile delays the first step a day (first_query_after_s): this test makes its
# own rows due (next_query_at) and shortens the waits between queries for the bureaus it uses.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)

# The first step put off as in the test profile (on an `up` environment too): the test makes its
# rows due itself. Short waits between queries and a short lease, restored when the test ends.
pl_hold_resolver
pl_sql "UPDATE resolution_policy SET retry_after_s = 1, backoff_factor = 1, max_retry_after_s = 1,
    not_found_after_s = 4, max_queries = 4, lease_s = 5, reverse_after_s = 0 WHERE protocol = 'CYB';
    UPDATE resolution_policy SET max_queries = 2 WHERE protocol = 'CYB' AND worker = 'auth'" >/dev/null
pl_on_exit "pl_sql \"UPDATE resolution_policy SET retry_after_s = 30, backoff_factor = 2,
    max_retry_after_s = 900, not_found_after_s = 120, max_queries = 12, lease_s = 120,
    reverse_after_s = 60\" >/dev/null"
pl_on_exit pl_sim_latency 0

rr() { pl_sql "SELECT $1 FROM required_response WHERE request_id = :'id'" id="$2"; }
due() { pl_sql "UPDATE required_response SET next_query_at = now() WHERE request_id = :'id' AND status = 'open'" id="$1" >/dev/null; }
is_status() { [ "$(rr status "$2")" = "$1" ]; }
reply_count() { pl_replies "$1" "$2" | jq -s length; }

# Everything that only needs a timeout is sent at once (the waits overlap): a1 (905, applied,
# answer lost), a2 (901, never got), t8/t9 (the same two, for the timeout reversal below), s5
# (stored value on RLT), e6 (the External Payment Service); and the authorizations a3/a4 the
# reversal and the deposit below refer to.
a1="rsa-$run" a2="rsn-$run" t8="rst-$run" t9="rsu-$run" s5="rss-$run" e6="rse-$run"
a3="rsr-$run" a4="rsd-$run" a7="rsc-$run"
a1req=$(pl_request auth "$a1" 905.00)
a3req=$(pl_request auth "$a3" 60.00)
a4req=$(pl_request auth "$a4" 70.00)
a7req=$(pl_request auth "$a7" 30.00)
pl_send auth "$a1req"
pl_send auth "$(pl_request auth "$a2" 901.00)"
pl_send auth "$(pl_request auth "$t8" 905.80)"
pl_send auth "$(pl_request auth "$t9" 901.90)"
pl_send svc "$(pl_svc_request "$s5" auth "S$run" 901.00 '.svc = {card_number: "8574906000000001"}')"
pl_send auth "$(pl_request auth "$e6" 901.00 '.service = "EXT"')"
pl_send auth "$a3req"
pl_send auth "$a4req"
pl_send auth "$a7req"
for id in "$a1" "$a2" "$t8" "$t9" "$e6"; do
    r=$(pl_wait_reply auth "$id" 60) || fail "no reply for $id"
    assert_json .status timeout "$r"
    assert_json .required_response true "$r"
done
r=$(pl_wait_reply svc "$s5" 60) || fail "no reply for $s5"
assert_json .status timeout "$r"
for id in "$a3" "$a4" "$a7"; do
    r=$(pl_wait_reply auth "$id" 60) || fail "no reply for $id"
    assert_json .status approved "$r"
done
assert_eq "$(rr status "$a1")" open "required response open"

# The reversal of a3 and the deposit of a4 are answered after the worker stopped waiting (the
# simulator applies them at once and answers 8 s late).
v3="rsv-$run" d4="rsdd-$run"
vreq=$(jq -nc --arg id "$v3" --arg order "$(jq -r .order <<<"$a3req")" --arg a "$a3" '{v: 1,
    request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1, service: "CYB",
    amount: "60.00", currency: "USD", auth_ref: {request_id: $a}}')
dreq=$(pl_debit "$d4" 70.00 "$(jq -r .order <<<"$a4req")" "$a4")
# j5, an authorization Decision Manager rejects (481) after the issuer approved it, answered too
# late the same way; and c7, a debit of 40.00 on a7's 30.00 authorization: an auth+capture,
# which replaces a7.
j5="rsj-$run" c7="rscd-$run"
pl_sim_latency 8000
pl_send reversal "$vreq"
pl_send deposit "$dreq"
pl_send auth "$(pl_request auth "$j5" 481.00)"
pl_send deposit "$(pl_debit "$c7" 40.00 "$(jq -r .order <<<"$a7req")" "$a7")"
r=$(pl_wait_reply reversal "$v3" 60) || fail "no reply for $v3"
assert_json .status timeout "$r"
r=$(pl_wait_reply deposit "$d4" 60) || fail "no reply for $d4"
assert_json .status timeout "$r"
r=$(pl_wait_reply auth "$j5" 60) || fail "no reply for $j5"
assert_json .status timeout "$r"
r=$(pl_wait_reply deposit "$c7" 60) || fail "no reply for $c7"
assert_json .status timeout "$r"
pl_sim_latency 0

# ---- asked about: a1 approved, a2 not there, v3 approved; s5 and e6 cannot be asked ------------
for id in "$a1" "$a2" "$v3" "$j5" "$c7" "$s5" "$e6"; do due "$id"; done
pl_eventually 90 is_status resolved "$a1" || fail "$a1 not resolved: $(rr "status || ' ' || last_query_result" "$a1")"
assert_eq "$(rr "resolution || '|' || resolved_how || '|' || resolved_by || '|' || queries" "$a1")" \
    "approved|query|paylink-auth resolver|1" "resolved by the query"
assert_eq "$(pl_sql "SELECT status || '|' || amount_approved || '|' || decision || '|' || vendor_response || '|' || (transaction_id <> '') || '|' || (auth_number <> '') FROM cc_auth_trans WHERE request_id = :'id'" id="$a1")" \
    "approved|905.00|ACCEPT|100|true|true" "cc_auth_trans as if answered in time"
assert_eq "$(pl_sql "SELECT count(*) || '|' || min(status) || '|' || min(amount_authorized) FROM auth_history WHERE request_id = :'id'" id="$a1")" \
    "1|approved|905.00" "auth_history"
r=$(pl_wait_reply_nth auth "$a1" 2 60) || fail "no final reply for $a1"
assert_json .status approved "$r"
assert_json .resolved true "$r"
assert_json .resolution query "$r"
assert_json .amount_approved 905.00 "$r"
assert_eq "$(jq -r '.required_response // false' <<<"$r")" false "the final reply needs nothing more"
assert_eq "$(jq -r .auth.transaction_id <<<"$r")" \
    "$(pl_sql "SELECT transaction_id FROM cc_auth_trans WHERE request_id = :'id'" id="$a1")" "the bureau's id"
assert_eq "$(rr reply_pending "$a1")" f "final reply published"
assert_eq "$(pl_ledger_count "$a1" auth)" 1 "authorized once"
# A redelivery now replays the final reply.
pl_send auth "$a1req"
r=$(pl_wait_reply_nth auth "$a1" 3 60) || fail "no replay for $a1"
assert_json .status approved "$r"
assert_json .replayed true "$r"

pl_eventually 90 is_status resolved "$a2" || fail "$a2 not resolved: $(rr "status || ' ' || last_query_result" "$a2")"
assert_eq "$(rr "resolution || '|' || resolved_how" "$a2")" "error|query" "resolved: not there"
assert_contains "$(rr resolution_note "$a2")" "no record" "why"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$a2")" error "auth row"
assert_eq "$(pl_sql "SELECT string_agg(status || '|' || coalesce(amount_authorized::text, ''), ',') FROM auth_history WHERE request_id = :'id'" id="$a2")" \
    "error|" "history: an error, nothing authorized"
r=$(pl_wait_reply_nth auth "$a2" 2 60) || fail "no final reply for $a2"
assert_json .status error "$r"
assert_json .resolved true "$r"
assert_contains "$(jq -r .message <<<"$r")" "nothing was charged" "message"
assert_eq "$(pl_ledger_count "$a2" auth)" 0 "never authorized"

pl_eventually 90 is_status resolved "$v3" || fail "$v3 not resolved: $(rr "status || ' ' || last_query_result" "$v3")"
assert_eq "$(rr "resolution || '|' || resolved_how" "$v3")" "approved|query" "reversal resolved"
assert_eq "$(pl_sql "SELECT status || '|' || amount_reversed FROM auth_reversal WHERE request_id = :'id'" id="$v3")" \
    "approved|60.00" "auth_reversal"
assert_eq "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="$a3")" \
    reversed "authorization released"
r=$(pl_wait_reply_nth reversal "$v3" 2 60) || fail "no final reply for $v3"
assert_json .status approved "$r"
assert_json .resolution query "$r"
assert_eq "$(pl_ledger_count "$v3" reversal)" 1 "reversed once"

# j5: found rejected by Decision Manager, settled as paylink-auth settles a 481 in time — the
# payment deactivated and, Send reversal being on for CYB, the authorization reversed through
# paylink-reversal (the same request id paylink-auth would have used), so the cardholder's
# funds are not held.
pl_eventually 90 is_status resolved "$j5" || fail "$j5 not resolved: $(rr "status || ' ' || last_query_result" "$j5")"
assert_eq "$(rr "resolution || '|' || resolved_how" "$j5")" "declined|query" "j5 resolved by the query"
assert_eq "$(pl_sql "SELECT status || '|' || vendor_response || '|' || payment_deactivated || '|' || hold_reason FROM cc_auth_trans WHERE request_id = :'id'" id="$j5")" \
    "rejected|481|true|FS" "j5 as if the reject had come in time"
r=$(pl_wait_reply_nth auth "$j5" 2 60) || fail "no final reply for $j5"
assert_json .status rejected "$r"
assert_json .vendor_response 481 "$r"
assert_json .resolution query "$r"
rev=$(pl_wait_topic "$PAYLINK_TOPIC_PREFIX.reversal.request" "$j5.rev" 30) || fail "no reversal requested for $j5"
assert_json .auth_ref.request_id "$j5" "$rev"
assert_json .amount 481.00 "$rev"
r=$(pl_wait_reply reversal "$j5.rev" 60) || fail "no reversal reply for $j5.rev"
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT status FROM auth_history WHERE request_id = :'id' ORDER BY id DESC LIMIT 1" id="$j5")" \
    reversed "j5's authorization released"
assert_eq "$(pl_ledger_count "$j5.rev" reversal)" 1 "reversed once"

# c7: found approved, an auth+capture — as paylink-deposit does in time, a7 (replaced, nothing of
# it captured) is voided and reversed at the bureau through paylink-reversal.
pl_eventually 90 is_status resolved "$c7" || fail "$c7 not resolved: $(rr "status || ' ' || last_query_result" "$c7")"
assert_eq "$(rr "resolution || '|' || resolved_how" "$c7")" "approved|query" "c7 resolved by the query"
assert_eq "$(pl_sql "SELECT status || '|' || operation || '|' || amount_deposited FROM cc_deposit_trans WHERE request_id = :'id'" id="$c7")" \
    "approved|auth_capture|40.00" "c7 as if answered in time"
rev=$(pl_wait_topic "$PAYLINK_TOPIC_PREFIX.reversal.request" "$c7.vdr" 30) || fail "no reversal requested for $c7"
assert_json .auth_ref.request_id "$a7" "$rev"
assert_json .amount 30.00 "$rev"
r=$(pl_wait_reply reversal "$c7.vdr" 60) || fail "no reversal reply for $c7.vdr"
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT status || '|' || void_reason FROM auth_history WHERE request_id = :'id' ORDER BY id LIMIT 1" id="$a7")" \
    "reversed|auth_capture" "a7 released"
assert_eq "$(pl_ledger_count "$c7.vdr" reversal)" 1 "a7 reversed once"

pl_eventually 60 is_status escalated "$s5" || fail "$s5 not escalated: $(rr "status || ' ' || last_query_result" "$s5")"
assert_contains "$(rr last_query_result "$s5")" "cannot be asked" "why"
assert_eq "$(rr queries "$s5")" 0 "nothing asked"
pl_eventually 60 is_status escalated "$e6" || fail "$e6 not escalated: $(rr "status || ' ' || last_query_result" "$e6")"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$e6")" unknown "EXT auth still unknown"

# ---- the bureau cannot be asked (the report password cannot be read) ---------------------------
# d4, a deposit: escalated after the policy's last query, never captured twice. t8 and t9,
# authorizations: reversed (CyberSource's timeout authorization reversal, through
# paylink-reversal): t8 was applied by the bureau, so it is reversed; t9 never got there: 242.
ref=$(pl_sql "SELECT password_ref FROM dm_settings WHERE service_bureau = 'CYB'")
pl_sql "UPDATE dm_settings SET password_ref = 'env:PAYLINK_TEST_NO_SUCH_SECRET' WHERE service_bureau = 'CYB'" >/dev/null
pl_on_exit "pl_sql \"UPDATE dm_settings SET password_ref = '$ref' WHERE service_bureau = 'CYB'\" >/dev/null"
for id in "$d4" "$t8" "$t9"; do due "$id"; done
pl_eventually 90 is_status escalated "$d4" || fail "$d4 not escalated: $(rr "status || ' ' || last_query_result" "$d4")"
pl_eventually 120 is_status resolved "$t8" || fail "$t8 not resolved: $(rr "status || ' ' || last_query_result" "$t8")"
pl_eventually 120 is_status resolved "$t9" || fail "$t9 not resolved: $(rr "status || ' ' || last_query_result" "$t9")"
pl_sql "UPDATE dm_settings SET password_ref = :'ref' WHERE service_bureau = 'CYB'" ref="$ref" >/dev/null

assert_eq "$(rr queries "$d4")" 4 "asked max_queries times"
assert_contains "$(rr last_query_result "$d4")" "escalated after 4 queries" "last result"
assert_contains "$(rr last_query_result "$d4")" "password" "why the query failed"
assert_eq "$(pl_sql "SELECT status FROM cc_deposit_trans WHERE request_id = :'id'" id="$d4")" unknown "deposit still unknown"
pl_send deposit "$dreq"
r=$(pl_wait_reply_nth deposit "$d4" 2 60) || fail "no replay for $d4"
assert_json .status timeout "$r"
assert_json .replayed true "$r"
assert_eq "$(pl_ledger_count "$d4" capture)" 1 "captured once, never sent again"
assert_eq "$(reply_count deposit "$d4")" 2 "no final reply for an escalated deposit"

assert_eq "$(rr "resolution || '|' || resolved_how || '|' || queries || '|' || reversal_request_id" "$t8")" \
    "cancelled|timeout_reversal|2|$t8.tor" "t8 settled by its timeout reversal after the last query"
assert_eq "$(pl_sql "SELECT status || '|' || operation || '|' || amount_reversed || '|' || auth_request_id FROM auth_reversal WHERE request_id = :'id'" id="$t8.tor")" \
    "approved|reversal|905.80|$t8" "the timeout reversal"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$t8")" error "t8 is no authorization"
assert_eq "$(pl_ledger_count "$t8" auth)" 1 "t8 authorized once by the bureau"
assert_eq "$(pl_ledger_count "$t8.tor" reversal)" 1 "and reversed once"
r=$(pl_wait_reply_nth auth "$t8" 2 60) || fail "no final reply for $t8"
assert_json .status error "$r"
assert_json .resolved true "$r"
assert_json .resolution timeout_reversal "$r"
assert_contains "$(jq -r .message <<<"$r")" "reversed" "message"
r=$(pl_wait_reply reversal "$t8.tor" 60) || fail "no reversal reply for $t8.tor"
assert_json .status approved "$r"
assert_eq "$(rr "resolution || '|' || resolved_how" "$t9")" "error|timeout_reversal" "t9: nothing to reverse"
assert_eq "$(pl_sql "SELECT status || '|' || vendor_response FROM auth_reversal WHERE request_id = :'id'" id="$t9.tor")" \
    "declined|242" "the bureau had no such authorization"
assert_eq "$(pl_ledger_count "$t9" auth)" 0 "t9 never authorized"
r=$(pl_wait_reply_nth auth "$t9" 2 60) || fail "no final reply for $t9"
assert_json .status error "$r"
assert_json .resolution timeout_reversal "$r"

# ---- two replicas: each row resolved once -------------------------------------------------------
pl_replica_start auth rsrep
ids=()
for i in 1 2 3 4 5 6; do
    id="rs2-$run-$i"
    ids+=("$id")
    pl_send auth "$(pl_request auth "$id" 905.0$i)"
done
for id in "${ids[@]}"; do
    # Both replicas consume every request (their own groups): each answers timeout once.
    pl_wait_reply_nth auth "$id" 2 60 >/dev/null || fail "no replies for $id"
done
pl_sql "UPDATE required_response SET next_query_at = now() WHERE request_id LIKE :'p' AND status = 'open'" p="rs2-$run-%" >/dev/null
all_resolved() { [ "$(pl_sql "SELECT count(*) FROM required_response WHERE request_id LIKE :'p' AND status = 'resolved' AND NOT reply_pending" p="rs2-$run-%")" = 6 ]; }
pl_eventually 90 all_resolved || fail "not all resolved: $(pl_sql "SELECT string_agg(status, ',') FROM required_response WHERE request_id LIKE :'p'" p="rs2-$run-%")"
for id in "${ids[@]}"; do
    assert_eq "$(pl_sql "SELECT count(*) FROM auth_history WHERE request_id = :'id'" id="$id")" 1 "$id recorded once"
    assert_eq "$(pl_replies auth "$id" | jq -s '[.[] | select(.resolved == true)] | length')" 1 "$id: one final reply"
    assert_eq "$(pl_ledger_count "$id" auth)" 1 "$id authorized once"
done

# ---- a replica killed while it holds a row leaves it to the other -------------------------------
k7="rsk-$run"
pl_send auth "$(pl_request auth "$k7" 905.50)"
pl_wait_reply_nth auth "$k7" 2 60 >/dev/null || fail "no replies for $k7"
# The query waits 25 s at the simulator (under the resolver's 30 s query timeout): whoever takes
# the row holds it meanwhile, and is killed long before its answer could come.
pl_sim_latency 25000
due "$k7"
leased() { [ -n "$(rr "coalesce(lease_owner, '')" "$k7")" ]; }
pl_eventually 60 leased || fail "nobody took $k7"
# Who holds it, and until when (one read, the database's clock): the other replica may take the
# row from then on, not before.
held=$(rr "lease_owner || '|' || lease_until" "$k7")
owner=${held%%|*} until_=${held#*|}
if [ "$owner" = "rsrep/resolver" ]; then
    pl_replica_stop auth rsrep KILL
    survivor=paylink-auth
else
    pl_worker_stop auth KILL
    pl_on_exit "pl_worker_pid auth >/dev/null || pl_worker_start auth"
    survivor=rsrep
fi
pl_sim_latency 0
pl_eventually 90 is_status resolved "$k7" || fail "$k7 not resolved after its holder died: $(rr "status || ' ' || coalesce(lease_owner, '')" "$k7")"
assert_ne "$(rr "coalesce(lease_owner, '') || resolved_by" "$k7")" "" "resolved"
# Not taken while the dead holder's lease ran (an order, not a time: this test once read the
# row 'open' right after the kill, which a loaded box made more than the 5 s lease).
assert_eq "$(pl_sql "SELECT resolved_at >= :'u'::timestamptz FROM required_response WHERE request_id = :'id'" u="$until_" id="$k7")" t \
    "resolved only after the dead holder's lease ($until_)"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_history WHERE request_id = :'id'" id="$k7")" 1 "recorded once"
assert_eq "$(pl_ledger_count "$k7" auth)" 1 "authorized once"
pl_worker_pid auth >/dev/null || pl_worker_start auth
echo "# the row was taken by $owner, killed; resolved by $survivor"

pass "resolver"
