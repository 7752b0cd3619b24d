#!/usr/bin/env bash
# test_kafka_topics.sh SOURCE_DIR: deploy/kafka/create-topics.sh asks Kafka for the topics the
# workers expect (32 partitions) with the retention each one's content calls for: requests
# (card numbers) shortest, with segments small enough for the retention to act, replies
# longer, dead letters (redacted) longest. Kafka's tools are stand-ins that record their
# arguments, so no broker is needed.
set -euo pipefail
src=${1:?usage: test_kafka_topics.sh SOURCE_DIR}
script=$src/deploy/kafka/create-topics.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

mkdir "$work/bin"
for tool in kafka-topics.sh kafka-configs.sh; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$tool" "$work" >"$work/bin/$tool"
    chmod +x "$work/bin/$tool"
done

# Refuses to run without brokers, before calling anything.
if BROKERS= KAFKA_BIN=$work/bin bash "$script" >/dev/null 2>&1; then
    fail "ran without BROKERS"
fi
[ ! -e "$work/calls" ] || fail "called Kafka's tools without BROKERS"

BROKERS=b1:9093 COMMAND_CONFIG=/etc/paylink/admin.properties KAFKA_BIN=$work/bin \
    bash "$script" >"$work/out"

# The setting of topic $1 in the create call ($2 = name) and in the alter call.
created() { grep -E "^kafka-topics.sh .*--topic $1 " "$work/calls" || true; }
altered() { grep -E "^kafka-configs.sh .*--entity-name $1 " "$work/calls" || true; }
setting() { grep -oE "(^| |,)$2=[0-9a-z]+" <<<"$1" | head -n 1 | sed 's/^[ ,]//; s/^[^=]*=//'; }

check() { # topic retention_ms segment_ms
    local t=$1 c a
    c=$(created "$t")
    a=$(altered "$t")
    [ -n "$c" ] || { fail "$t is not created"; return; }
    [ -n "$a" ] || { fail "$t's settings are not applied to an existing topic"; return; }
    [[ $c == *"--partitions 32 "* ]] || fail "$t: not 32 partitions: $c"
    [[ $c == *"--replication-factor 3 "* ]] || fail "$t: not replication factor 3"
    [[ $c == *"--bootstrap-server b1:9093 "* && $a == *"--bootstrap-server b1:9093 "* ]] ||
        fail "$t: not sent to BROKERS"
    [[ $c == *"--command-config /etc/paylink/admin.properties"* &&
        $a == *"--command-config /etc/paylink/admin.properties"* ]] ||
        fail "$t: COMMAND_CONFIG (TLS/SASL for the admin client) not passed"
    local what
    for what in "$c" "$a"; do
        [ "$(setting "$what" retention.ms)" = "$2" ] ||
            fail "$t: retention.ms $(setting "$what" retention.ms), want $2"
        [ "$(setting "$what" segment.ms)" = "$3" ] ||
            fail "$t: segment.ms $(setting "$what" segment.ms), want $3"
        [ "$(setting "$what" min.insync.replicas)" = 2 ] || fail "$t: min.insync.replicas"
        [ "$(setting "$what" cleanup.policy)" = delete ] || fail "$t: cleanup.policy"
    done
}

hour=3600000
day=$((24 * hour))
for w in auth deposit reversal svc; do
    check "paylink.$w.request" "$day" "$hour"
    check "paylink.$w.reply" $((7 * day)) "$day"
    check "paylink.$w.request.dlq" $((30 * day)) "$day"
done
check paylink.dm.decision $((7 * day)) "$day"
n=$(grep -c '^kafka-topics.sh' "$work/calls")
[ "$n" = 13 ] || fail "$n topics created, want 13"

# The order that matters, whatever the numbers become: card data goes first.
req=$(setting "$(created paylink.auth.request)" retention.ms)
rep=$(setting "$(created paylink.auth.reply)" retention.ms)
dlq=$(setting "$(created paylink.auth.request.dlq)" retention.ms)
if ((req < rep && rep < dlq)); then echo "ok: retention request $req < reply $rep < dead letters $dlq"; else
    fail "retention must grow from requests to replies to dead letters: $req, $rep, $dlq"
fi
# A request segment rolls well within the request retention, so deletion can keep up.
seg=$(setting "$(created paylink.auth.request)" segment.ms)
((seg * 4 <= req)) || fail "request segment.ms $seg too close to retention $req"

# Another prefix and a one-broker cluster (the compose stack).
: >"$work/calls"
BROKERS=kafka:9092 PREFIX=stage REPLICATION=1 MIN_ISR=1 KAFKA_BIN=$work/bin bash "$script" >/dev/null
c=$(created stage.svc.request.dlq)
[[ $c == *"--replication-factor 1 "* && $(setting "$c" min.insync.replicas) == 1 ]] ||
    fail "PREFIX/REPLICATION/MIN_ISR not honoured: $c"
! grep -q 'command-config' "$work/calls" || fail "--command-config passed without COMMAND_CONFIG"

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
