#!/usr/bin/env bash
# create-topics.sh: creates the paylink topics, or brings existing ones to these settings.
# Idempotent: run it before the first deployment and after changing a setting here.
#
#   BROKERS=kafka-1.paylink.internal:9093 COMMAND_CONFIG=admin.properties \
#       deploy/kafka/create-topics.sh
#
# Environment (defaults in brackets):
#   BROKERS          bootstrap servers (required)
#   COMMAND_CONFIG   admin client properties file for a TLS/SASL listener, passed to Kafka's
#                    tools as --command-config (security.protocol=SSL, ssl.truststore...) []
#   KAFKA_BIN        folder of kafka-topics.sh and kafka-configs.sh [found on PATH, else
#                    /opt/kafka/bin]
#   PREFIX           topic prefix, PAYLINK_TOPIC_PREFIX of the workers [paylink]
#   PARTITIONS       partitions per topic [32]: they cap a worker's replicas (its KEDA
#                    maxReplicaCount is 32) and the dev broker and tests use 32 too
#   REPLICATION      replication factor [3]
#   MIN_ISR          min.insync.replicas [2]; the workers' producers wait for all in-sync
#                    replicas (idempotent producer), so a write survives the loss of a broker
#
# Retention, by what a topic holds (PCI DSS 3.2.1: keep card data no longer than needed):
#   <prefix>.<worker>.request       24 h. Requests carry full card numbers and CVVs, which
#                                   nothing may keep after the authorization; a worker reads a
#                                   request within seconds, and 24 h covers a long outage of
#                                   the workers. segment.ms 1 h: Kafka deletes whole segments,
#                                   so without it a quiet topic would keep requests for the
#                                   default 7 days whatever retention.ms says.
#   <prefix>.<worker>.reply         7 days. Masked card only; upstream systems may be down for
#                                   a weekend and still read their replies.
#   <prefix>.<worker>.request.dlq   30 days. Redacted copies (card masked, CVV and 3-D Secure
#                                   values removed) kept for investigating refused requests.
#   <prefix>.dm.decision            7 days, like replies.
set -euo pipefail

: "${BROKERS:?set BROKERS to the bootstrap servers}"
PREFIX=${PREFIX:-paylink}
PARTITIONS=${PARTITIONS:-32}
REPLICATION=${REPLICATION:-3}
MIN_ISR=${MIN_ISR:-2}
COMMAND_CONFIG=${COMMAND_CONFIG:-}
if [ -z "${KAFKA_BIN:-}" ]; then
    if command -v kafka-topics.sh >/dev/null 2>&1; then
        KAFKA_BIN=$(dirname "$(command -v kafka-topics.sh)")
    else
        KAFKA_BIN=/opt/kafka/bin
    fi
fi

HOUR_MS=3600000
DAY_MS=$((24 * HOUR_MS))
REQUEST_RETENTION_MS=$DAY_MS
REPLY_RETENTION_MS=$((7 * DAY_MS))
DLQ_RETENTION_MS=$((30 * DAY_MS))

admin=(--bootstrap-server "$BROKERS")
[ -n "$COMMAND_CONFIG" ] && admin+=(--command-config "$COMMAND_CONFIG")

# topic NAME RETENTION_MS SEGMENT_MS: created if missing, then its settings applied (creation
# with --if-not-exists leaves an existing topic's settings as they were).
topic() {
    local name=$1 retention=$2 segment=$3
    local configs="cleanup.policy=delete,retention.ms=$retention,segment.ms=$segment,min.insync.replicas=$MIN_ISR"
    "$KAFKA_BIN/kafka-topics.sh" "${admin[@]}" --create --if-not-exists --topic "$name" \
        --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
        --config "cleanup.policy=delete" --config "retention.ms=$retention" \
        --config "segment.ms=$segment" --config "min.insync.replicas=$MIN_ISR"
    "$KAFKA_BIN/kafka-configs.sh" "${admin[@]}" --alter --entity-type topics \
        --entity-name "$name" --add-config "$configs"
    echo "$name: $PARTITIONS partitions, retention.ms=$retention"
}

for w in auth deposit reversal svc; do
    topic "$PREFIX.$w.request" "$REQUEST_RETENTION_MS" "$HOUR_MS"
    topic "$PREFIX.$w.reply" "$REPLY_RETENTION_MS" "$DAY_MS"
    topic "$PREFIX.$w.request.dlq" "$DLQ_RETENTION_MS" "$DAY_MS"
done
topic "$PREFIX.dm.decision" "$REPLY_RETENTION_MS" "$DAY_MS"
