#!/usr/bin/env bash
# test_alert_rules.sh SOURCE_DIR: deploy/prometheus/alerts.yaml is valid (promtool check rules)
# and its unit tests pass (promtool test rules alerts_test.yaml: every alert fires when it should
# and stays quiet when it should not). Skipped (exit 77) without promtool (Debian: prometheus).
set -euo pipefail
src=${1:?usage: test_alert_rules.sh SOURCE_DIR}
if ! command -v promtool >/dev/null 2>&1; then
    echo "SKIP: promtool is not installed (Debian package prometheus)"
    exit 77
fi
cd "$src/deploy/prometheus"
promtool check rules alerts.yaml
promtool test rules alerts_test.yaml
