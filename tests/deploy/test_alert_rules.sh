#!/usr/bin/env bash
# test_alert_rules.sh SOURCE_DIR: deploy/prometheus/alerts.yaml is valid (promtool check rules)
# and its unit tests pass (promtool test rules alerts_test.yaml: every alert fires when it should
# and stays quiet when it should not). promtool is PAYLINK_PROMTOOL, else the one on PATH, else
# the one tools/dev unpacks (SOURCE_DIR/.dev/tools/promtool; `tools/dev test` fetches it first
# and counts a failure when it cannot). Skipped (exit 77) when there is none: run by hand.
set -euo pipefail
src=$(cd "${1:?usage: test_alert_rules.sh SOURCE_DIR}" && pwd)
promtool=${PAYLINK_PROMTOOL:-}
if [ -z "$promtool" ]; then
    promtool=$(command -v promtool 2>/dev/null || true)
fi
if [ -z "$promtool" ] && [ -x "$src/.dev/tools/promtool" ]; then
    promtool=$src/.dev/tools/promtool
fi
if [ -z "$promtool" ]; then
    echo "SKIP: no promtool (Debian package prometheus; tools/dev test fetches it)"
    exit 77
fi
# A relative path names a file from where the test was started, not from the rules' folder.
[[ $promtool != */* || $promtool == /* ]] || promtool=$PWD/$promtool
cd "$src/deploy/prometheus"
"$promtool" check rules alerts.yaml
"$promtool" test rules alerts_test.yaml
