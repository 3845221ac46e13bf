"""`make demo`: POT end to end on the local stack; called by `python -m pot_stack demo` after `make up`.

It applies `examples/` into the `pot-demo` namespace, writes the example mailboxes' credentials
and the example pool's alert-bot token and Slack webhook (random, never printed) into the local
OpenBao (inside the `pot-demo` namespace's folder, where the operator resolves the examples' relative
paths), and watches the example campaign send through the operator and its workers into the SMTP
sink until it completes; then it prints the first message the sink accepted (headers and text, as a
recipient gets it, unsubscribe token included: the demo also writes the namespace's unsubscribe key)
and the alerts the operator sent to the stack's fake Telegram and Slack (`<root>/chat/`), the
campaign-completion message among them. Three demo-only overrides,
each printed, make that take a minute instead of a week: the mailboxes point at the local sink,
the pool's sending window is lifted (the demo must run at any hour), and the spacing between two
sends of one mailbox is two seconds instead of ten minutes.
"""

from __future__ import annotations

import copy
import email.message
import json
import re
import secrets
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pot_stack.fake_chat import read_store
from pot_stack.smtp_sink import read_maildir
from pot_stack.stack import REPO_ROOT

NAMESPACE = "pot-demo"
EXAMPLES = REPO_ROOT / "examples"
GROUP, VERSION = "pot.dev", "v1alpha1"
FINAL_PHASES = ("Completed", "Failed")
DEMO_SPACING_SECONDS = 2
SETTLE_SECONDS = 30.0  # after the campaign ends, how long to wait for the mailboxes' counts and alerts
CHANNELS = ("telegram", "slack")


def load_env(root: Path) -> dict[str, str]:
    """The `export NAME=value` lines `make up` wrote to `<root>/env`."""
    path = root / "env"
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: run `make up` first")
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            name, value = parts[1].split("=", 1)
            env[name] = value
    return env


def example_documents() -> list[dict[str, Any]]:
    """Every manifest under examples/ (the Argo CD folder is for Argo CD, not for kubectl)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def demo_overrides(docs: list[dict[str, Any]], smtp_host: str, smtp_port: int) -> list[str]:
    """Change the documents in place for the demo; return one line per change, for the person watching."""
    said: list[str] = []
    for doc in docs:
        kind, name, spec = doc.get("kind"), doc["metadata"]["name"], doc.get("spec", {})
        if kind == "Mailbox":
            spec["smtp"] = {"host": smtp_host, "port": smtp_port, "tlsMode": "starttls"}
            said.append(
                f"Mailbox {name}: sends through the local SMTP sink {smtp_host}:{smtp_port} (STARTTLS)"
            )
        elif kind == "MailboxPool":
            if spec.pop("sendingWindow", None) is not None:
                said.append(f"MailboxPool {name}: sending window lifted so the demo runs at any hour")
            limits = spec.setdefault("limits", {})
            limits["minSpacingSeconds"] = DEMO_SPACING_SECONDS
            limits["perInboxPerHour"] = limits.get("perInboxPerDay", 30)
            said.append(
                f"MailboxPool {name}: {DEMO_SPACING_SECONDS}s between two sends of a mailbox "
                "(instead of 10 minutes), the hourly cap raised to the daily cap"
            )
    return said


def resolved(env: dict[str, str], relative: str) -> str:
    """Where the operator reads a path the examples name: inside the demo namespace's Vault folder."""
    from pot_common.vault import DEFAULT_TENANT_PREFIX, tenant_path

    return tenant_path(NAMESPACE, relative, env.get("POT_VAULT_TENANT_PREFIX") or DEFAULT_TENANT_PREFIX)


def mailbox_credential_paths(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Vault path (relative, as the Mailbox names it) → mailbox address, for every example mailbox with a
    Vault credentials source."""
    paths = {}
    for doc in docs:
        if doc.get("kind") == "Mailbox":
            vault_path = doc["spec"].get("credentials", {}).get("vaultPath")
            if vault_path:
                paths[vault_path] = doc["spec"]["address"]
    return paths


def seed_vault(env: dict[str, str], paths: dict[str, str]) -> None:
    """Write a fresh random password per example mailbox (the sink accepts any; none is printed), at the
    path the operator resolves in the demo namespace's folder."""
    import hvac

    client = hvac.Client(url=env["POT_VAULT_ADDR"], token=env["POT_VAULT_TOKEN"])
    mount = env.get("POT_VAULT_MOUNT", "secret")
    for path, address in paths.items():
        client.secrets.kv.v2.create_or_update_secret(
            path=resolved(env, path),
            mount_point=mount,
            secret={"username": address, "password": secrets.token_urlsafe(18)},
        )


def seed_unsubscribe_key(env: dict[str, str]) -> None:
    """Write the demo namespace's unsubscribe key (random, never printed), so each link carries a token."""
    import hvac
    from pot_common.unsubscribe import VAULT_FIELD, VAULT_PATH

    client = hvac.Client(url=env["POT_VAULT_ADDR"], token=env["POT_VAULT_TOKEN"])
    client.secrets.kv.v2.create_or_update_secret(
        path=resolved(env, VAULT_PATH),
        mount_point=env.get("POT_VAULT_MOUNT", "secret"),
        secret={VAULT_FIELD: secrets.token_urlsafe(48)},
    )


SHOWN_HEADERS = ("From", "To", "Subject", "Date", "List-Unsubscribe", "List-Unsubscribe-Post")
# Where a template variable rendered empty: two spaces between words ("I am  from"), a space before
# punctuation ("Hi ,"), or a line that starts with one ("Hi\n, a quick question").
_HOLE = re.compile(r"\S {2,}\S| [,.;:?!]|^[ \t]*[,.;:?!]", re.MULTILINE)


def shown_message(message: email.message.EmailMessage) -> str:
    """One accepted message as a recipient reads it: its main headers and its text part."""
    # Unfolded: a long header (the unsubscribe link with its token) is folded on the wire.
    lines = [f"{name}: {' '.join(str(message[name]).split())}" for name in SHOWN_HEADERS if message[name]]
    part = message.get_body(preferencelist=("plain",))
    body = part.get_content() if isinstance(part, email.message.EmailMessage) else ""
    return "\n".join([*lines, "", body.rstrip()])


def placeholder_holes(text: str) -> list[str]:
    """The spots of a rendered text where a placeholder seems to have rendered empty."""
    return [text[max(m.start() - 20, 0) : m.end() + 20] for m in _HOLE.finditer(text)]


def alert_routes(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Channel → Vault path (relative) of its secret, for the example pool's alert routes (`spec.alerts`)."""
    routes: dict[str, str] = {}
    for doc in docs:
        if doc.get("kind") == "MailboxPool":
            alerts = doc.get("spec", {}).get("alerts") or {}
            if (alerts.get("telegram") or {}).get("tokenVaultPath"):
                routes["telegram"] = alerts["telegram"]["tokenVaultPath"]
            if (alerts.get("slack") or {}).get("webhookVaultPath"):
                routes["slack"] = alerts["slack"]["webhookVaultPath"]
    return routes


def alert_secret(channel: str) -> dict[str, str]:
    """A fresh random secret of the shape the operator reads: a bot token (`token`) or a webhook (`url`).

    The webhook names hooks.slack.com as a real one would; the operator's POT_SLACK_WEBHOOK_URL (the
    stack's fake chat) replaces its scheme and host, so nothing leaves the machine.
    """
    if channel == "telegram":
        return {"token": f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(27)}"}
    parts = (
        f"T{secrets.token_hex(5).upper()}",
        f"B{secrets.token_hex(5).upper()}",
        secrets.token_urlsafe(18),
    )
    return {"url": "https://hooks.slack.com/services/" + "/".join(parts)}


def seed_alert_secrets(env: dict[str, str], routes: dict[str, str]) -> None:
    """Write the pool's alert secrets (the fake chat accepts any; none is printed)."""
    import hvac

    client = hvac.Client(url=env["POT_VAULT_ADDR"], token=env["POT_VAULT_TOKEN"])
    mount = env.get("POT_VAULT_MOUNT", "secret")
    for channel, path in routes.items():
        client.secrets.kv.v2.create_or_update_secret(
            path=resolved(env, path), mount_point=mount, secret=alert_secret(channel)
        )


def new_alerts(chat_dir: Path, seen: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """The messages the fake chat stored since `seen` (per-channel counts taken when the demo began)."""
    stored = read_store(chat_dir)
    return {channel: stored[channel][seen.get(channel, 0) :] for channel in CHANNELS}


def completion_alerted(alerts: dict[str, list[dict[str, Any]]], campaign: str, channels: list[str]) -> bool:
    """Every route got the campaign's completion message (the operator sends it in the background)."""
    needle = f"campaign {NAMESPACE}/{campaign} completed"
    return all(any(needle in str(m.get("text")) for m in alerts.get(c, [])) for c in channels)


def kubectl(env: dict[str, str], *args: str, input: str | None = None) -> str:
    from pot_stack.controlplane import locate_binaries

    binary = locate_binaries() / "kubectl"
    done = subprocess.run(
        [str(binary), "--kubeconfig", env["KUBECONFIG"], *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Snapshot:
    """What the demo shows each second, read from the live objects and the sink's folder."""

    campaign: dict[str, Any] = field(default_factory=dict)
    pool: dict[str, Any] = field(default_factory=dict)
    mailboxes: list[dict[str, Any]] = field(default_factory=list)
    stored_messages: int = 0
    alerts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def phase(self) -> str:
        return str(self.campaign.get("status", {}).get("phase") or "Pending")


def read_snapshot(api: Any, campaign: str, pool: str, maildir: Path) -> Snapshot:
    def get(plural: str, name: str) -> dict[str, Any]:
        try:
            return dict(api.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, plural, name))
        except Exception:
            return {}

    mailboxes = api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "mailboxes").get("items", [])
    stored = sum(1 for _ in (maildir / "new").iterdir()) if (maildir / "new").is_dir() else 0
    return Snapshot(get("campaigns", campaign), get("mailboxpools", pool), mailboxes, stored)


def _mailboxes_caught_up(snap: Snapshot) -> bool:
    """The mailboxes' `sentToday` add up to the campaign's sent count (the pool refreshes them on
    its timer, a few seconds after the campaign's counts)."""
    sent = int((snap.campaign.get("status", {}).get("counts") or {}).get("sent") or 0)
    return sum(int(m.get("status", {}).get("sentToday") or 0) for m in snap.mailboxes) >= sent


def _condition(obj: dict[str, Any], kind: str) -> str:
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c.get("type") == kind:
            return f"{c.get('status')} ({c.get('reason')})"
    return "-"


def render(snap: Snapshot, began: float) -> Group:
    status = snap.campaign.get("status", {})
    counts = status.get("counts") or {}
    head = Table(title=f"Campaign {snap.campaign.get('metadata', {}).get('name', '?')}", expand=False)
    for col in ("phase", "total", "queued", "sent", "deferred", "bounced", "failed", "suppressed", "in sink"):
        head.add_column(col, justify="right")
    head.add_row(
        snap.phase,
        *[
            str(counts.get(k, "-"))
            for k in ("total", "queued", "sent", "deferred", "bounced", "failed", "suppressed")
        ],
        str(snap.stored_messages),
    )
    pool_status = snap.pool.get("status", {})
    pool_name = snap.pool.get("metadata", {}).get("name", "?")
    workers, capacity = pool_status.get("workerReplicas", "-"), pool_status.get("capacityToday", "-")
    boxes = Table(
        title=f"Pool {pool_name}: workers {workers}, capacity today {capacity}, "
        f"Ready {_condition(snap.pool, 'Ready')}"
    )
    for col in ("mailbox", "state", "warmup day", "cap today", "sent today", "health", "credentials"):
        boxes.add_column(col)
    for mb in sorted(snap.mailboxes, key=lambda m: m["metadata"]["name"]):
        st = mb.get("status", {})
        boxes.add_row(
            mb["metadata"]["name"],
            str(st.get("state", "-")),
            str(st.get("warmupDay", "-")),
            str(st.get("capToday", "-")),
            str(st.get("sentToday", "-")),
            str(st.get("healthScore", "-")),
            _condition(mb, "CredentialsReady"),
        )
    received = ", ".join(f"{c} {len(snap.alerts.get(c, []))}" for c in CHANNELS)
    return Group(
        head, boxes, f"alerts received: {received}", f"[dim]{time.monotonic() - began:.0f}s elapsed[/dim]"
    )


def run(root: Path, *, timeout: float = 600.0, console: Console | None = None) -> int:
    """The whole demo; returns the exit code (0 when the example campaign completed)."""
    console = console or Console()
    root = root.resolve()
    env = load_env(root)
    docs = example_documents()
    campaign = next(d["metadata"]["name"] for d in docs if d.get("kind") == "Campaign")
    pool = next(d["metadata"]["name"] for d in docs if d.get("kind") == "MailboxPool")
    shown = copy.deepcopy(docs)
    for line in demo_overrides(shown, env["POT_SMTP_HOST"], int(env["POT_SMTP_PORT"])):
        console.print(f"[yellow]demo override[/yellow] {line}")

    console.print(f"Writing the example mailboxes' credentials into OpenBao ({env['POT_VAULT_ADDR']}) …")
    seed_vault(env, mailbox_credential_paths(shown))
    seed_unsubscribe_key(env)
    chat_dir = root / "chat"
    routes = alert_routes(shown) if env.get("POT_TELEGRAM_API_URL") else {}
    if routes:
        console.print(
            f"Writing the pool's alert secrets ({', '.join(sorted(routes))}) into OpenBao; "
            f"alerts go to the fake chat at {env['POT_TELEGRAM_API_URL']} …"
        )
        seed_alert_secrets(env, routes)
    else:
        console.print("[yellow]No fake chat in this stack (make down; make up): alerts not shown.[/yellow]")
    seen = {channel: len(messages) for channel, messages in read_store(chat_dir).items()}

    from kubernetes import client, config

    api = client.CustomObjectsApi(config.new_client_from_config(env["KUBECONFIG"]))
    maildir = root / "mail"
    if routes and read_snapshot(api, campaign, pool, maildir).phase in FINAL_PHASES:
        # A second `make demo` on the same stack: the campaign is done and alerted once already.
        console.print(f"Campaign {campaign} already ended in an earlier run; its alerts were sent then.")
        routes = {}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    kubectl(env, "apply", "-f", "-", input=yaml.safe_dump(namespace))
    console.print(f"Applying examples/ into namespace {NAMESPACE} …")
    console.print(kubectl(env, "apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump_all(shown)).rstrip())
    began = time.monotonic()
    snap = Snapshot()
    finished_at = 0.0
    with Live(render(snap, began), console=console, refresh_per_second=2) as live:
        while time.monotonic() - began < timeout:
            snap = read_snapshot(api, campaign, pool, maildir)
            snap.alerts = new_alerts(chat_dir, seen)
            live.update(render(snap, began))
            if snap.phase in FINAL_PHASES:
                finished_at = finished_at or time.monotonic()
                settled = _mailboxes_caught_up(snap) and (
                    snap.phase != "Completed" or completion_alerted(snap.alerts, campaign, sorted(routes))
                )
                if settled or time.monotonic() - finished_at > SETTLE_SECONDS:
                    break
            time.sleep(1)
    took = time.monotonic() - began
    console.print()
    counts = snap.campaign.get("status", {}).get("counts") or {}
    summary = {
        "campaign": campaign,
        "phase": snap.phase,
        "seconds": round(took, 1),
        "counts": counts,
        # What the fake chat received during this run: message records, no token or webhook in them.
        "alerts": snap.alerts,
    }
    (root / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    if snap.phase == "Completed":
        console.print(f"[green]Campaign {campaign} completed in {took:.0f}s[/green]: {counts}")
    else:
        console.print(f"[red]Campaign {campaign} is {snap.phase} after {took:.0f}s[/red]: {counts}")
    accepted = read_maildir(maildir)
    if accepted:
        console.print(f"\nThe first message the sink accepted ({accepted[0].path}):")
        console.print(shown_message(accepted[0].message), markup=False, highlight=False, soft_wrap=True)
    if routes:
        console.print(f"\nAlerts the operator sent (fake Telegram and Slack, stored in {chat_dir}):")
        for channel in CHANNELS:
            for message in snap.alerts.get(channel, []):
                console.print(f"  {channel:<8} {message.get('text')}", soft_wrap=True, highlight=False)
        if not any(snap.alerts.values()):
            console.print("  none yet")
    metrics = env.get("POT_OPERATOR_METRICS_URL", "(operator metrics port not set)")
    where = [
        (f"source {root / 'env'} && kubectl get pot -n {NAMESPACE}", "the objects and their printer columns"),
        (f"ls {maildir / 'new'}", "every message the sink accepted"),
        (f"cat {chat_dir}/telegram.jsonl {chat_dir}/slack.jsonl", "every alert the fake chat received"),
        (f"potctl status -n {NAMESPACE}", "pools, mailboxes and campaigns"),
        (metrics, "the operator's metrics"),
        (str(root / "logs"), "every server's, the operator's and the workers' logs"),
        ("make down", "stop everything"),
    ]
    console.print("\nWhere to look:")
    for what, why in where:
        console.print(f"  {what}\n      {why}", soft_wrap=True)
    return 0 if snap.phase == "Completed" else 1
