#!/usr/bin/env bash
# After the other tests ran: no full card number or CVV anywhere paylink writes — logs, the
# database, the reply and dead-letter topics (PCI DSS 3.3.1, 3.4.1, 3.5.1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pans="4111111111111111 5555555555554444 378282246310005 4111111111111112"
for pan in $pans; do
    assert_logs_clean "$pan"
done
dump=$(pg_dump_text)
for pan in $pans; do
    assert_not_contains "$dump" "$pan" "card number $pan in the database"
done
# The stored replies carry the CVV *result* (auth.cvv, "M"/"N"), never a card.cvv value.
assert_eq "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE reply -> 'card' ? 'cvv'")" 0 "no cvv in stored replies"
assert_not_contains "$dump" '"cvv": "123"' "no test cvv in the database"
for t in auth.reply auth.request.dlq deposit.reply deposit.request.dlq reversal.request reversal.reply reversal.request.dlq; do
    out=$(pl_topic_dump "$PAYLINK_TOPIC_PREFIX.$t")
    for pan in $pans; do
        assert_not_contains "$out" "$pan" "card number $pan on $t"
    done
done
pass "no card data at rest"
