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
    "PotInboxComplaintRateHigh",
}
# Recording rules of the inbox feedback (pot-ingester), each tested with promtool's promql_expr_test.
REQUIRED_RECORDS = {
    "pot:pool_sent:increase1d",
    "pot:pool_reply_rate:1d",
    "pot:pool_late_bounce_rate:1d",
    "pot:pool_inbox_complaint_rate:1d",
}


def documented_metrics() -> set[str]:
    # docs/contracts.md lists every program's metrics; the ingester's are in docs/feedback.md too.
    docs = [REPO / "docs" / "contracts.md", REPO / "docs" / "feedback.md"]
    return {m for doc in docs for m in re.findall(r"`(pot_[a-z_]+)", doc.read_text())}


def used_metrics(promql: str) -> set[str]:
    # Histograms are documented by family; Prometheus exposes them as _bucket/_sum/_count.
    return {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bpot_[a-z_]+", promql)}


def all_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "alert" in r]


def recording_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "record" in r]


def test_promtool_accepts_the_rules(tools: Tools) -> None:
    out = tools.run(tools.promtool, "check", "rules", str(ALERTS)).stdout
    assert f"SUCCESS: {len(all_rules())} rules found" in out


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


def test_every_rate_of_the_inbox_feedback_is_recorded_and_tested() -> None:
    assert {r["record"] for r in recording_rules()} == REQUIRED_RECORDS
    tested = {
        case["expr"]
        for t in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in t.get("promql_expr_test", [])
    }
    assert REQUIRED_RECORDS - {"pot:pool_sent:increase1d"} <= tested
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    assert "pot:pool_inbox_complaint_rate:1d >= 0.001" in exprs["PotInboxComplaintRateHigh"]


def test_the_ingester_metrics_in_rules_exist_in_its_code() -> None:
    """A rule over a metric nobody exports never fires: each pot_ingester_* name is in pot_ingester."""
    from pot_ingester import metrics

    exported = {
        f"{m._name}_total" if m._type == "counter" else m._name  # type: ignore[attr-defined]
        for m in vars(metrics).values()
        if hasattr(m, "_type") and hasattr(m, "_name")
    }
    used = {name for r in all_rules() for name in re.findall(r"\bpot_ingester_[a-z_]+", r["expr"])}
    used |= {name for e in dashboard_exprs() for name in re.findall(r"\bpot_ingester_[a-z_]+", e)}
    assert used, "no rule or panel reads the ingester"
    assert used <= exported


def test_bounce_and_complaint_thresholds_are_the_agreed_ones() -> None:
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    assert "pot_pool_bounce_rate >= 0.02" in exprs["PotBounceRateHigh"]
    assert "pot_pool_bounce_rate >= 0.05" in exprs["PotBounceRateCritical"]
    assert "pot_pool_complaint_rate >= 0.001" in exprs["PotComplaintRateHigh"]
    assert "pot_pool_complaint_rate >= 0.003" in exprs["PotComplaintRateCritical"]


def test_rules_and_dashboard_use_only_documented_metrics() -> None:
    documented = documented_metrics()
    assert len(documented) >= 15, "docs/contracts.md lost its metric list"
    for rule in all_rules():
        assert used_metrics(rule["expr"]) <= documented, rule.get("alert") or rule["record"]
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
        "Reply, late-bounce and complaint rate (1 d)",
        "Inbox messages by kind",
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
