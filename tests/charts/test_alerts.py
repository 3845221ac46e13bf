"""POT's alerts and dashboard: promtool checks and unit tests, and both use only documented metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from conftest import Tools

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "pot"
ALERTS = CHART / "files" / "alerts.yaml"
ALERT_TESTS = CHART / "tests" / "alerts-test.yaml"
DASHBOARD = CHART / "dashboards" / "pot-fleet.json"
KUBE_VERSION = "1.35.4"

REQUIRED_ALERTS = {
    "PotQueueLagHigh",
    "PotWorkerErrors",
    "PotSmtpErrorRateHigh",
    "PotBounceRateHigh",
    "PotBounceRateCritical",
    "PotComplaintRateHigh",
    "PotComplaintRateCritical",
    "PotPoolPaused",
    "PotCampaignPreflightFailing",
    "PotMailboxBlocklisted",
}


def documented_metrics() -> set[str]:
    return set(re.findall(r"`(pot_[a-z_]+)", (REPO / "docs" / "contracts.md").read_text()))


def used_metrics(promql: str) -> set[str]:
    # Histograms are documented by family; Prometheus exposes them as _bucket/_sum/_count.
    return {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bpot_[a-z_]+", promql)}


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def test_promtool_accepts_the_rules(tools: Tools) -> None:
    out = tools.run(tools.promtool, "check", "rules", str(ALERTS)).stdout
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_promtool_unit_tests_pass(tools: Tools) -> None:
    out = tools.run(tools.promtool, "test", "rules", str(ALERT_TESTS), cwd=ALERT_TESTS.parent).stdout
    assert "SUCCESS" in out


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = [c for t in yaml.safe_load(ALERT_TESTS.read_text())["tests"] for c in t["alert_rule_test"]]
    names = {r["alert"] for r in alert_rules()}
    assert names == REQUIRED_ALERTS
    for name in names:
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name} is never tested firing"
        assert any(not c["exp_alerts"] for c in mine), f"{name} is never tested silent"


def test_bounce_and_complaint_thresholds_are_the_agreed_ones() -> None:
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    assert "pot_pool_bounce_rate >= 0.02" in exprs["PotBounceRateHigh"]
    assert "pot_pool_bounce_rate >= 0.05" in exprs["PotBounceRateCritical"]
    assert "pot_pool_complaint_rate >= 0.001" in exprs["PotComplaintRateHigh"]
    assert "pot_pool_complaint_rate >= 0.003" in exprs["PotComplaintRateCritical"]


def test_rules_and_dashboard_use_only_documented_metrics() -> None:
    documented = documented_metrics()
    assert len(documented) >= 15, "docs/contracts.md lost its metric list"
    for rule in alert_rules():
        assert used_metrics(rule["expr"]) <= documented, rule["alert"]
    for expr in dashboard_exprs():
        assert used_metrics(expr) <= documented, expr


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_queries_parse(tools: Tools, tmp_path: Path) -> None:
    # promtool has no offline query checker, but it parses recording rules: wrap each panel query
    # in one, with Grafana's variables replaced by what Grafana would send.
    rules = [
        {
            "record": f"pot:dashboard_query_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$", ""),
        }
        for i, expr in enumerate(dashboard_exprs())
    ]
    assert len(rules) >= 12
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    tools.run(tools.promtool, "check", "rules", str(path))


def test_dashboard_covers_the_promised_views() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    for wanted in (
        "Fleet health",
        "Sends by outcome",
        "Caps used today",
        "Queue lag (oldest due job)",
        "Bounce rate",
        "Complaint rate",
    ):
        assert wanted in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "namespace", "pool"}


def test_prometheusrule_carries_exactly_the_tested_rules(tools: Tools) -> None:
    out = tools.run(
        tools.helm,
        "template",
        "pot",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "prometheusRule.enabled=true",
        "--show-only",
        "templates/prometheusrule.yaml",
    ).stdout
    rendered = yaml.safe_load(out)
    assert rendered["kind"] == "PrometheusRule"
    assert rendered["spec"] == yaml.safe_load(ALERTS.read_text())
