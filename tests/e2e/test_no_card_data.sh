#!/usr/bin/env bash
# No full card number or CVV anywhere paylink writes — logs, the database, the reply and
# dead-letter topics (keys included), the metrics (PCI DSS 3.3.1, 3.4.1, 3.5.1) — wherever the
# upstream system put it. Runs after every other e2e test, in every test environment at once
# (CMakeLists.txt), so its sweep covers what they all wrote: the test card numbers in every form
# test_card_in_fields sends them in (where they do not belong), and the raw numbers of the other
# tests.
# A card number quoted by the bureau in a fault string (error_text) is covered by
# tests/unit/test_bureau_cybersource.c (test_parse_scrubs_card_numbers): no scenario of the
# simulator's contract quotes what it was sent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pl_test_card_forms

# The raw numbers of the other tests, every form of the valid ones, and a Luhn-failing number
# an earlier test sent as card.number.
sweep=("${forms[@]}" "${fw_forms[@]}" "${glued_forms[@]}" 4111111111111112)
# Each place is read once for all of them (grep -F with the list), not once a number: the logs,
# the database and the topics of a CI run are megabytes, and bash's own substring match is slow.
assert_logs_clean "${sweep[@]}"
sweep_e=()
for f in "${sweep[@]}"; do sweep_e+=(-e "$f"); done
# clean WHAT: standard input holds none of the sweep's numbers; the failure names those found.
# Read as text whatever it holds (-a): a NUL byte (a Kafka key is copied from the upstream
# request's) would make grep call the whole input binary and print no match.
clean() {
    local found
    found=$(grep -aoF "${sweep_e[@]}" | sort -u | paste -sd '|' -) || true
    [ -z "$found" ] || fail "$1 holds card number(s) '$found'"
    pass "no card number (${#sweep[@]} forms) in $1"
}
# (Through a file: an `up` environment's dump would not fit in the shell's memory.)
dumpf=$(mktemp)
pl_on_exit "rm -f '$dumpf'"
pg_dump_text >"$dumpf" || fail "pg_dump failed"
clean "the database" <"$dumpf"
# The stored replies carry the CVV *result* (auth.cvv, "M"/"N"), never a card.cvv value.
assert_eq "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE reply -> 'card' ? 'cvv'")" 0 "no cvv in stored replies"
! grep -qF '"cvv": "123"' "$dumpf" || fail "the database holds the test cvv ('\"cvv\": \"123\"')"
pass "no test cvv in the database"
# The nine topics are read at once (each read waits on the broker for its end), each into a file.
topics=(auth.reply auth.request.dlq deposit.reply deposit.request.dlq reversal.request reversal.reply
    reversal.request.dlq svc.reply svc.request.dlq)
topicd=$(mktemp -d)
pl_on_exit "rm -rf '$topicd'"
pids=()
for t in "${topics[@]}"; do
    pl_messages_keyed "$PAYLINK_TOPIC_PREFIX.$t" >"$topicd/$t" &
    pids+=($!)
done
for i in "${!topics[@]}"; do
    wait "${pids[i]}" || fail "reading ${topics[i]} failed"
    clean "${topics[i]} (keys and values)" <"$topicd/${topics[i]}"
done
# Metrics: labels are fixed at registration, so nothing of a request can get there; checked
# anyway on every worker that serves them.
checked=0
for v in $(compgen -v | grep -E '^PAYLINK_[A-Z]+_METRICS_PORT$' || true); do
    m=$(curl -sf --max-time 5 "http://127.0.0.1:${!v}/metrics") || continue
    checked=$((checked + 1))
    ! holds_card "$m" || fail "card number in the metrics on port ${!v}"
done
((checked > 0)) || fail "no worker served /metrics"
pass "no card number in the metrics of $checked workers"
pass "no card data at rest"
