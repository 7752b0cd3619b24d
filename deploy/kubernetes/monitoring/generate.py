# Writes the PrometheusRule of deploy/prometheus/alerts.yaml to stdout (run from deploy/; needs PyYAML).
import sys, yaml
rules = yaml.safe_load(open("prometheus/alerts.yaml"))
doc = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "paylink",
                 "labels": {"app.kubernetes.io/name": "paylink", "app.kubernetes.io/component": "alerts"}},
    "spec": rules,
}
sys.stdout.write("# GENERATED from deploy/prometheus/alerts.yaml: do not edit here. Regenerate (deploy/README.md):\n"
                 "#   cd deploy && python3 kubernetes/monitoring/generate.py > kubernetes/monitoring/prometheusrule.yaml\n")
yaml.safe_dump(doc, sys.stdout, sort_keys=False, width=100, allow_unicode=True)
