#!/usr/bin/env bash
# CI check of Switchyard's observability files: the Prometheus rules and their unit tests, the
# Grafana dashboard, and the runbook every alert links to. Whether the metric names they use are
# ones Switchyard exposes is checked by a scrape of a test instance:
#   cargo test -p switchyard-e2e --test observability_contract
#
# Needs python3; installs promtool (Debian package `prometheus`) when it is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
rules="$here/prometheus/alerts.yml"
tests="$here/prometheus/alerts.test.yml"
dashboard="$here/grafana/switchyard.json"
runbook="$repo/docs/runbook.md"

step() { printf '\n== %s\n' "$*"; }

if ! command -v promtool >/dev/null 2>&1; then
    step "promtool not found: installing the Debian package prometheus (promtool only is used)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus >/dev/null
    # The package may start a Prometheus server; this check needs none.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        $sudo systemctl stop prometheus || true
    fi
fi
promtool --version | head -n 1

step "promtool check rules $(basename "$rules") (syntax, PromQL, templates)"
promtool check rules "$rules"

step "promtool test rules $(basename "$tests") (every alert fires once and stays quiet once)"
(cd "$(dirname "$tests")" && promtool test rules "$(basename "$tests")")

step "dashboard $(basename "$dashboard") is valid JSON"
python3 -m json.tool "$dashboard" >/dev/null
echo "  SUCCESS"

step "every dashboard query parses as PromQL (Grafana variables substituted)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 - "$dashboard" "$scratch/dashboard-queries.yml" <<'PY'
import json, sys

dashboard, out = sys.argv[1], sys.argv[2]
exprs = []

def walk(panels):
    for panel in panels:
        for target in panel.get("targets", []):
            if target.get("expr"):
                exprs.append((panel.get("title", "?"), target["expr"]))
        walk(panel.get("panels", []))

with open(dashboard) as f:
    walk(json.load(f)["panels"])
# Values Grafana would put in: an interval for the range variables, one integration.
subst = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$integration": "sms"}
with open(out, "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for n, (title, expr) in enumerate(exprs):
        for var, value in subst.items():
            expr = expr.replace(var, value)
        if "$" in expr.replace("$1", ""):
            sys.exit(f"panel {title!r}: unknown Grafana variable in {expr!r}")
        f.write(f"      - record: dashboard:query_{n}\n        expr: {json.dumps(expr)}\n")
print(f"  {len(exprs)} queries")
PY
promtool check rules "$scratch/dashboard-queries.yml" | sed 's/^/  /'

step "every alert has summary, description, severity and a runbook_url whose anchor is in docs/runbook.md"
python3 - "$rules" "$runbook" <<'PY'
import re, sys

rules, runbook = sys.argv[1], sys.argv[2]
text = open(rules).read()
# GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
anchors = {
    re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
    for line in open(runbook) if line.startswith("#")
}
alerts = re.split(r"\n\s*- alert: ", text)[1:]
problems = []
for block in alerts:
    name = block.split()[0]
    for key in ("summary:", "description:", "severity:", "runbook_url:"):
        if key not in block:
            problems.append(f"{name}: no {key[:-1]}")
    url = re.search(r"runbook_url:\s*(\S+)", block)
    if url:
        path, _, anchor = url.group(1).partition("#")
        if path != "docs/runbook.md" or anchor not in anchors:
            problems.append(f"{name}: runbook_url {url.group(1)} has no matching heading in docs/runbook.md")
if problems:
    sys.exit("\n".join(problems))
print(f"  {len(alerts)} alerts, each with its runbook section")
PY

step "all observability checks passed"
