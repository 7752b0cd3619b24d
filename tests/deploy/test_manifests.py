#!/usr/bin/env python3
"""test_manifests.py SOURCE_DIR: the deployment files parse, and keep what protects card data.

- Every YAML file under deploy/ parses (and the JSON dashboard).
- Kubernetes: a worker container never mounts a Secret volume (paylink refuses group-readable
  secret files, and Secret volumes with fsGroup are group-readable: an init container copies
  them as 0400 files); Secret volumes ask for defaultMode 0400; pods run as a non-root user;
  the metrics endpoint binds to the pod IP; the workers and KEDA reach Kafka over TLS; a
  NetworkPolicy lets only the monitoring namespace reach the metrics ports; with kubectl at
  hand, the kustomization renders with every worker enabled.
- systemd: Kafka over TLS with the client key as a credential, metrics on 127.0.0.1;
  paylink-dmupdate.service writes its metrics textfile into a ReadWritePaths= directory, as a
  file node_exporter (another user) can read.
- Bureau secrets (and the Decision Manager report password): each worker gets the same ones
  (same file, same *_FILE variable) from its Kubernetes pod, its systemd unit and its compose
  service, as the table in deploy/README.md says; every *_FILE path names a file the pod
  copies / the unit loads, and a unit's header lists them.
- The dmupdate CronJob never runs two cycles at once (concurrencyPolicy: Forbid).
- The PrometheusRule holds the rules of deploy/prometheus/alerts.yaml (it is generated from it).
- Every Apache Kafka image under deploy/ is the version tools/kafka/pom.xml fetches, the one
  every test and benchmark runs on.

Exit 77 (skipped) when python3-yaml is missing.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is not installed")
    sys.exit(77)

SRC = sys.argv[1]
DEPLOY = os.path.join(SRC, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def ok(msg):
    print("ok: " + msg)


def docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def env_file(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                values[k] = v.strip('"')
    return values


# ---- everything parses ------------------------------------------------------------------
parsed = 0
for path in sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True)):
    try:
        docs(path)
        parsed += 1
    except yaml.YAMLError as e:
        fail(f"{os.path.relpath(path, SRC)} does not parse: {e}")
for path in glob.glob(os.path.join(DEPLOY, "**", "*.json"), recursive=True):
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
        parsed += 1
    except ValueError as e:
        fail(f"{os.path.relpath(path, SRC)} does not parse: {e}")
ok(f"{parsed} YAML/JSON files parse")

# ---- Kubernetes pods ----------------------------------------------------------------------
SECRET_MODE = 0o400


def pod_specs(doc):
    kind = doc.get("kind")
    spec = doc.get("spec", {})
    if kind == "Deployment" or kind == "Job":
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def secret_volumes(pod):
    names = set()
    for v in pod.get("volumes", []):
        if "secret" in v:
            names.add(v["name"])
            mode = v["secret"].get("defaultMode")
        elif "projected" in v and any("secret" in s for s in v["projected"]["sources"]):
            names.add(v["name"])
            mode = v["projected"].get("defaultMode")
        else:
            continue
        if mode != SECRET_MODE:
            fail(f"{v['name']}: Secret volume defaultMode {mode!r}, want 0400")
    return names


workers_seen = 0
k8s_secrets = {}  # worker -> {file under /run/secrets/paylink/: its env variable}
for path in sorted(glob.glob(os.path.join(K8S, "**", "*.yaml"), recursive=True)):
    rel = os.path.relpath(path, SRC)
    for doc in docs(path):
        for pod in pod_specs(doc):
            name = doc["metadata"]["name"]
            sc = pod.get("securityContext", {})
            if not sc.get("runAsNonRoot") or not sc.get("runAsUser"):
                fail(f"{rel} {name}: pod must run as a non-root user (runAsNonRoot, runAsUser)")
            secret_vols = secret_volumes(pod)
            for c in pod.get("containers", []):
                for m in c.get("volumeMounts", []):
                    if m["name"] in secret_vols:
                        fail(f"{rel} {name}: container {c['name']} mounts the Secret volume "
                             f"{m['name']} (group-readable with fsGroup): mount the init "
                             "container's 0400 copies instead")
                env = {e["name"]: e for e in c.get("env", [])}
                if "PAYLINK_HASH_KEY_FILE" not in env:
                    continue  # not a worker (the migrate Job)
                workers_seen += 1
                bind = env.get("PAYLINK_METRICS_BIND", {})
                if bind.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "status.podIP":
                    fail(f"{rel} {name}: PAYLINK_METRICS_BIND must be the pod IP (status.podIP)")
                copies = [v for v in pod.get("volumes", []) if v["name"] == "secrets"]
                if not copies or copies[0].get("emptyDir", {}).get("medium") != "Memory":
                    fail(f"{rel} {name}: the secret copies must live in a memory emptyDir")
                inits = [i for i in pod.get("initContainers", [])
                         if any(m["name"] in secret_vols for m in i.get("volumeMounts", []))]
                if not inits or "install -m 0400" not in " ".join(inits[0].get("command", [])):
                    fail(f"{rel} {name}: no init container copying the Secrets as 0400 files")
                copied = {it["path"] for v in pod.get("volumes", []) if v["name"] in secret_vols
                          for s in v.get("projected", {}).get("sources", [v])
                          for it in s.get("secret", {}).get("items", [])}
                files = {}
                for e in c.get("env", []):
                    val = e.get("value", "")
                    if val.startswith("/run/secrets/paylink/"):
                        files[val.rsplit("/", 1)[1]] = e["name"]
                for f in sorted(set(files) - copied):
                    fail(f"{rel} {name}: {files[f]} names {f}, which the Secret volume does not "
                         "hold (add its key to the items)")
                k8s_secrets[name.removeprefix("paylink-")] = files
if workers_seen < 5:
    fail(f"only {workers_seen} worker pod specs found (auth, deposit, reversal, svc, dmupdate)")
else:
    ok(f"{workers_seen} worker pods: secrets as 0400 copies, metrics on the pod IP")

config = env_file(os.path.join(K8S, "config.env"))
for key, want in (("PAYLINK_RDKAFKA_SECURITY_PROTOCOL", ("ssl", "sasl_ssl")),
                  ("PAYLINK_RDKAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", ("https",))):
    if config.get(key) not in want:
        fail(f"kubernetes/config.env: {key}={config.get(key)!r}, want one of {want}")
for key in ("PAYLINK_RDKAFKA_SSL_CA_LOCATION", "PAYLINK_RDKAFKA_SSL_CERTIFICATE_LOCATION",
            "PAYLINK_RDKAFKA_SSL_KEY_LOCATION"):
    if not config.get(key, "").startswith("/run/secrets/paylink/"):
        fail(f"kubernetes/config.env: {key} must name a file of the secret copies")
if "PAYLINK_METRICS_BIND" in config:
    fail("kubernetes/config.env must not set PAYLINK_METRICS_BIND (the pod IP is per pod)")

auths = set()
for path in glob.glob(os.path.join(K8S, "*.yaml")):
    for doc in docs(path):
        if doc.get("kind") == "TriggerAuthentication":
            auths.add(doc["metadata"]["name"])
scaled = 0
for path in glob.glob(os.path.join(K8S, "*", "scaledobject.yaml")):
    for doc in docs(path):
        for trig in doc["spec"]["triggers"]:
            scaled += 1
            if trig["metadata"].get("tls") != "enable":
                fail(f"{os.path.relpath(path, SRC)}: KEDA's Kafka trigger without tls: enable")
            if trig.get("authenticationRef", {}).get("name") not in auths:
                fail(f"{os.path.relpath(path, SRC)}: authenticationRef names no "
                     "TriggerAuthentication of deploy/kubernetes")
ok(f"Kafka over TLS: config.env and {scaled} KEDA triggers")

with open(os.path.join(K8S, "kustomization.yaml"), encoding="utf-8") as f:
    resources = yaml.safe_load(f)["resources"]
policies = [d for d in docs(os.path.join(K8S, "networkpolicy.yaml"))
            if d.get("kind") == "NetworkPolicy"]
if "networkpolicy.yaml" not in resources or not policies:
    fail("no NetworkPolicy in the kustomization")
for pol in policies:
    spec = pol["spec"]
    rules = spec.get("ingress", [])
    froms = [f for r in rules for f in r.get("from", [])]
    ports = [p for r in rules for p in r.get("ports", [])]
    if (spec.get("policyTypes") != ["Ingress"]
            or spec["podSelector"].get("matchLabels") != {"app.kubernetes.io/part-of": "paylink"}
            or not froms or any(set(f) != {"namespaceSelector"} for f in froms)
            or any(p.get("port", 0) < 9101 or p.get("endPort", p.get("port")) > 9105
                   for p in ports) or not ports):
        fail("the NetworkPolicy must let only a namespace selector reach ports 9101-9105")
    else:
        ok("NetworkPolicy: metrics ports from the monitoring namespace only")

kubectl = shutil.which("kubectl")
if kubectl:
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "kubernetes")
        shutil.copytree(K8S, copy)
        kpath = os.path.join(copy, "kustomization.yaml")
        with open(kpath, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"^  # - (deposit|reversal|svc|dmupdate)$", r"  - \1", text, flags=re.M)
        with open(kpath, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([kubectl, "kustomize", copy], capture_output=True, text=True)
        if r.returncode != 0:
            fail("kubectl kustomize: " + r.stderr.strip())
        else:
            kinds = sorted({d["kind"] for d in yaml.safe_load_all(r.stdout) if d})
            ok("kustomize renders every worker: " + ", ".join(kinds))
else:
    print("note: kubectl not found, the kustomization was not rendered")

# ---- systemd --------------------------------------------------------------------------------
SYSTEMD = os.path.join(DEPLOY, "systemd")
env = env_file(os.path.join(SYSTEMD, "paylink.env.example"))
if env.get("PAYLINK_METRICS_BIND") != "127.0.0.1":
    fail("systemd/paylink.env.example: PAYLINK_METRICS_BIND must be 127.0.0.1")
if env.get("PAYLINK_RDKAFKA_SECURITY_PROTOCOL") not in ("ssl", "sasl_ssl"):
    fail("systemd/paylink.env.example: Kafka must use TLS")
for key in ("PAYLINK_RDKAFKA_SSL_KEY_LOCATION", "PAYLINK_RDKAFKA_SSL_CERTIFICATE_LOCATION"):
    if key in env:
        fail(f"systemd/paylink.env.example must not set {key}: it would override the units'")
units = sorted(glob.glob(os.path.join(SYSTEMD, "paylink-*.service")))
for unit in units:
    with open(unit, encoding="utf-8") as f:
        text = f.read()
    if ("LoadCredential=kafka-client.key:" not in text
            or "Environment=PAYLINK_RDKAFKA_SSL_KEY_LOCATION=%d/kafka-client.key" not in text):
        fail(f"{os.path.basename(unit)}: the Kafka client key must be a credential")
    if re.search(r"^Environment=PAYLINK_METRICS_BIND=", text, re.M):
        fail(f"{os.path.basename(unit)}: PAYLINK_METRICS_BIND belongs in paylink.env")
ok(f"systemd: {len(units)} units with the Kafka key as a credential, metrics on loopback")

# paylink-dmupdate --once serves no /metrics: it writes node_exporter's textfile (tmp + rename,
# so the directory must be writable under ProtectSystem=strict, and the file readable by
# node_exporter's user, which a 0077 umask would forbid).
with open(os.path.join(SYSTEMD, "paylink-dmupdate.service"), encoding="utf-8") as f:
    text = f.read()
m = re.search(r"^Environment=PAYLINK_DM_TEXTFILE=(\S+)$", text, re.M)
rw = [p.lstrip("-") for line in re.findall(r"^ReadWritePaths=(.*)$", text, re.M)
      for p in line.split()]
umask = re.findall(r"^UMask=(\d+)$", text, re.M)
if not m:
    fail("paylink-dmupdate.service: no PAYLINK_DM_TEXTFILE (its metrics would reach no one)")
elif os.path.dirname(m.group(1)) not in rw:
    fail(f"paylink-dmupdate.service: {m.group(1)} is not in a ReadWritePaths= directory "
         "(ProtectSystem=strict makes it read-only)")
elif not umask or int(umask[-1], 8) & 0o044:
    fail("paylink-dmupdate.service: UMask must let node_exporter read the textfile (0022)")
else:
    ok(f"systemd: paylink-dmupdate writes its metrics to {m.group(1)}")

# ---- bureau secrets: the same for each worker in every form ----------------------------------
# The bureaus' secrets, and the Decision Manager report password (dm_settings.password_ref).
BUREAU_FILES = ("cyb.key", "rlt.password", "ext.client-secret", "dm.password")
unit_secrets = {}  # worker -> {credential: its env variable}
for unit in units:
    base = os.path.basename(unit)
    with open(unit, encoding="utf-8") as f:
        text = f.read()
    loaded = set(re.findall(r"^LoadCredential=([^:\s]+):", text, re.M))
    files = dict((f, v) for v, f in re.findall(r"^Environment=(\w+)=%d/(\S+)$", text, re.M))
    for f in sorted(set(files) - loaded):
        fail(f"{base}: {files[f]} names %d/{f} without LoadCredential={f}:...")
    for f in sorted(loaded - set(files) - {"pgpass"}):
        fail(f"{base}: LoadCredential={f} with no Environment= variable naming it")
    m = re.search(r"/etc/paylink/credentials/\{([^}]*)\}", text)
    listed = {s.strip() for s in m.group(1).split(",")} if m else set()
    if listed != loaded:
        fail(f"{base}: the header lists credentials {sorted(listed)}, the unit loads "
             f"{sorted(loaded)}")
    unit_secrets[base.removeprefix("paylink-").removesuffix(".service")] = files

with open(os.path.join(DEPLOY, "README.md"), encoding="utf-8") as f:
    readme = f.read()
compose = docs(os.path.join(DEPLOY, "compose.yaml"))[0]
compose_files = {os.path.basename(s["file"]): n for n, s in compose["secrets"].items()}
compose_path = {n: f"/run/secrets/{n}" for n in compose["secrets"]}
for secret in BUREAU_FILES:
    m = re.search(r"^\|[^|\n]*\| `" + re.escape(secret) + r"` \| ([^|\n]*) \|$", readme, re.M)
    if not m:
        fail(f"deploy/README.md: no row for {secret} in the secrets table")
        continue
    want = {w.strip() for w in m.group(1).split(",")}
    k8s = {w for w, fs in k8s_secrets.items() if secret in fs}
    sysd = {w for w, fs in unit_secrets.items() if secret in fs}
    if k8s != want:
        fail(f"kubernetes: {secret} goes to {sorted(k8s)}, deploy/README.md says {sorted(want)}")
    if sysd != want:
        fail(f"systemd: {secret} goes to {sorted(sysd)}, deploy/README.md says {sorted(want)}")
    names = ({fs[secret] for w, fs in k8s_secrets.items() if secret in fs}
             | {fs[secret] for w, fs in unit_secrets.items() if secret in fs})
    if len(names) != 1:
        fail(f"{secret} is named by different variables: {sorted(names)}")
        continue
    var = names.pop()
    cname = compose_files.get(secret)
    if cname is None:
        fail(f"compose.yaml: no secret of ./dev-secrets/{secret}")
        continue
    for svc_name, svc in compose["services"].items():
        worker = svc_name.removeprefix("paylink-")
        if worker not in want:
            continue
        if cname not in svc.get("secrets", []):
            fail(f"compose.yaml: {svc_name} does not get the secret {cname}")
        # The service's environment, x-paylink-env merged in (<<:).
        if svc.get("environment", {}).get(var) != compose_path[cname]:
            fail(f"compose.yaml: {svc_name}: {var} must be {compose_path[cname]} "
                 f"(the secret of ./dev-secrets/{secret})")
ok(f"bureau secrets ({', '.join(BUREAU_FILES)}): Kubernetes, systemd, compose and "
   "deploy/README.md agree")

# ---- the periodic Decision Manager update and the alert rules --------------------------------
cronjobs = [d for d in docs(os.path.join(K8S, "dmupdate", "cronjob.yaml"))
            if d.get("kind") == "CronJob"]
if not cronjobs or any(c["spec"].get("concurrencyPolicy") != "Forbid" for c in cronjobs):
    fail("kubernetes/dmupdate/cronjob.yaml: concurrencyPolicy must be Forbid (one cycle at a time)")
else:
    ok("dmupdate CronJob: concurrencyPolicy Forbid")
with open(os.path.join(DEPLOY, "prometheus", "alerts.yaml"), encoding="utf-8") as f:
    rules = yaml.safe_load(f)
prule = [d for d in docs(os.path.join(K8S, "monitoring", "prometheusrule.yaml"))
         if d.get("kind") == "PrometheusRule"]
if not prule or prule[0].get("spec") != rules:
    fail("kubernetes/monitoring/prometheusrule.yaml differs from prometheus/alerts.yaml: "
         "regenerate it (deploy/README.md, PrometheusRule)")
else:
    n = sum(len(g["rules"]) for g in rules["groups"])
    ok(f"PrometheusRule: the {n} rules of prometheus/alerts.yaml")

# ---- the Kafka that was tested -------------------------------------------------------------
with open(os.path.join(SRC, "tools", "kafka", "pom.xml"), encoding="utf-8") as f:
    m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", f.read())
tested = m.group(1) if m else None
if not tested:
    fail("tools/kafka/pom.xml names no kafka.version")
images = []
for path in sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True)):
    with open(path, encoding="utf-8") as f:
        for tag in re.findall(r"image:\s*[\"']?apache/kafka:([^\s\"']+)", f.read()):
            images.append(tag)
            if tag != tested:
                fail(f"{os.path.relpath(path, SRC)}: apache/kafka:{tag}, but the tests run "
                     f"Apache Kafka {tested} (tools/kafka/pom.xml)")
if not images:
    fail("no apache/kafka image found under deploy/ (compose.yaml runs one)")
ok(f"{len(images)} Apache Kafka image(s) under deploy/ at the tested version {tested}")

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("all checks passed")
