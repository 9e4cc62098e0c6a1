#!/usr/bin/env bash
# CI checks of the deployment files (about a second; no cluster, no Docker engine needed):
#   1. `kubectl kustomize` renders deploy/k8s/base and both overlays;
#   2. the rendered Deployments have probes, resources, a grace period above the drain, and
#      no secret-looking variable with an inline value; every ScaledObject, HPA and PDB
#      points at a Deployment; the ConfigMap's queues.toml is the repository's;
#   3. deploy/compose.yaml parses, every depends_on names a service, and Prometheus scrapes
#      every Switchyard service;
#   4. deploy/prometheus/prometheus.yml passes `promtool check config --syntax-only`;
#   5. what deploy/Dockerfile copies exists.
# Needs: kubectl (Debian: `apt-get install kubernetes-client`), python3 with PyYAML
# (`apt-get install python3-yaml`; checks 2-3 are skipped with a message without it),
# promtool (Debian `prometheus`; check 4 is skipped without it).
# The Rust test tests/tests/deploy_manifests.rs checks the manifests against queues.toml.
set -euo pipefail

cd "$(dirname "$0")/.."
started=$(date +%s%N)
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT

step() { printf '\n== %s\n' "$*"; }
skip() { printf 'SKIP: %s\n' "$*"; }

step "kubectl kustomize: base, overlays/dev, overlays/production"
if ! command -v kubectl >/dev/null; then
  echo "kubectl not found: install it (Debian: apt-get install kubernetes-client)" >&2
  exit 1
fi
for dir in base overlays/dev overlays/production; do
  out="$rendered/${dir//\//-}.yaml"
  kubectl kustomize "deploy/k8s/$dir" >"$out"
  printf '%-22s %s\n' "$dir" "$(grep '^kind:' "$out" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}' | sed 's/, $//')"
done

step "queues.toml in the ConfigMap is the repository's"
cmp queues.toml deploy/k8s/base/queues.toml
echo "ok: deploy/k8s/base/queues.toml == queues.toml"

if python3 -c 'import yaml' 2>/dev/null; then
  step "rendered manifests: probes, resources, grace periods, secrets, references"
  python3 - "$rendered" <<'PY'
import glob, re, sys, yaml

SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEYS?$|AMQP_URL|DATABASE_URL|SMTP_URL)")
failures = []
for path in sorted(glob.glob(f"{sys.argv[1]}/*.yaml")):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for name, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        grace = int(next(e["value"] for c in spec["containers"] for e in c.get("env", [])
                         if e["name"] == "SWITCHYARD_SHUTDOWN_GRACE"))
        if spec.get("terminationGracePeriodSeconds", 30) <= grace:
            failures.append(f"{path}: {name}: terminationGracePeriodSeconds <= the {grace} s drain")
        for c in spec["containers"]:
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                failures.append(f"{path}: {name}: no /readyz readiness probe")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                failures.append(f"{path}: {name}: no /healthz liveness probe")
            if not c.get("resources", {}).get("requests"):
                failures.append(f"{path}: {name}: no resource requests")
            for e in c.get("env", []):
                if SECRETISH.search(e["name"]) and "value" in e and "$(" not in e["value"]:
                    failures.append(f"{path}: {name}: {e['name']} has an inline value")
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind in ("ScaledObject", "HorizontalPodAutoscaler"):
            target = d["spec"]["scaleTargetRef"]["name"]
            if target not in deployments:
                failures.append(f"{path}: {kind} {name} scales a missing Deployment {target}")
        if kind == "PodDisruptionBudget":
            want = d["spec"]["selector"]["matchLabels"]
            if not any(want.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
                       for dep in deployments.values()):
                failures.append(f"{path}: PDB {name} selects no Deployment's pods")
    print(f"ok: {path.rsplit('/', 1)[1]}: {len(deployments)} Deployments checked")
if failures:
    sys.exit("FAILED:\n  " + "\n  ".join(failures))
PY

  step "deploy/compose.yaml: parses, depends_on, Prometheus targets"
  python3 - <<'PY'
import sys, yaml

compose = yaml.safe_load(open("deploy/compose.yaml"))
services = compose["services"]
want = {"rabbitmq", "postgres", "prometheus", "grafana", "migrate", "ingress", "sms", "push",
        "email", "payments", "dead-letters", "sandbox"}
failures = [f"missing service {s}" for s in sorted(want - services.keys())]
for name, svc in services.items():
    for dep in svc.get("depends_on", {}):
        if dep not in services:
            failures.append(f"{name} depends on unknown service {dep}")
prom = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
targets = {t.split(":")[0] for job in prom["scrape_configs"]
           for sc in job.get("static_configs", []) for t in sc["targets"]}
for name, svc in services.items():
    if svc.get("image") == "switchyard:dev" and svc.get("command") != ["migrate"]:
        if name not in targets:
            failures.append(f"Prometheus does not scrape {name}")
        if "healthcheck" not in svc:
            failures.append(f"{name} has no healthcheck")
for t in sorted(targets - services.keys()):
    failures.append(f"Prometheus scrapes {t}, which is not a compose service")
if failures:
    sys.exit("FAILED:\n  " + "\n  ".join(failures))
print(f"ok: {len(services)} services, {len(targets)} scrape targets")
PY
else
  skip "python3 has no PyYAML (apt-get install python3-yaml): manifest and compose checks not run"
fi

step "promtool check config --syntax-only deploy/prometheus/prometheus.yml"
if command -v promtool >/dev/null; then
  promtool check config --syntax-only deploy/prometheus/prometheus.yml
else
  skip "promtool not found (Debian package prometheus)"
fi

step "deploy/Dockerfile: what it copies exists"
for path in queues.toml webhooks.example.toml templates Cargo.lock crates/cli/Cargo.toml; do
  test -e "$path" || { echo "FAILED: $path (copied by deploy/Dockerfile) is missing" >&2; exit 1; }
done
echo "ok (the image itself is built where a Docker engine runs: docker build -f deploy/Dockerfile .)"

printf '\nall deploy checks passed in %d ms\n' $((($(date +%s%N) - started) / 1000000))
