"""Pause, resume and cancel from the browser change the real objects, with the caller's RBAC: locally the
apiserver refuses a limited kubeconfig; in the cluster the console asks a SubjectAccessReview first."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from playwright.sync_api import expect
from pot_common.annotations import RESUME_ANNOTATION
from pot_console.settings import AuthMode
from pot_stack.controlplane import ControlPlane
from pot_stack.service import wait_until

from .conftest import StartConsole, get, write_status

VIEWER_ROLE = """
    apiVersion: rbac.authorization.k8s.io/v1
    kind: Role
    metadata: {{name: {name}, namespace: {ns}}}
    rules:
      - apiGroups: [pot.dev]
        resources: [mailboxpools, mailboxes, campaigns]
        verbs: [{verbs}]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata: {{name: {name}, namespace: {ns}}}
    roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
    subjects: [{subject}]
"""


def grant(kube: ControlPlane, ns: str, name: str, verbs: str, subject: str) -> None:
    kube.kubectl(
        "apply",
        "-f",
        "-",
        input=textwrap.dedent(VIEWER_ROLE.format(name=name, ns=ns, verbs=verbs, subject=subject)),
    )


def pool_paused(kube: ControlPlane, ns: str) -> Any:
    return get(kube, "mailboxpool", "acme-outreach", ns)["spec"].get("paused")


def test_pause_and_resume_change_the_real_pool(
    page: Any, kube: ControlPlane, fleet: str, start_console: StartConsole
) -> None:
    console = start_console(kube.admin_kubeconfig, namespace=fleet)
    console.sign_in(page)
    page.get_by_label(f"Reason for pausing pool {fleet}/acme-outreach").fill("[ops] DNS move")
    page.get_by_role("button", name=f"Pause pool {fleet}/acme-outreach").click()
    expect(page.get_by_role("status")).to_have_text(
        f"MailboxPool {fleet}/acme-outreach paused: [ops] DNS move"
    )
    spec = get(kube, "mailboxpool", "acme-outreach", fleet)["spec"]
    assert spec["paused"] is True and spec["pauseReason"] == "[ops] DNS move"
    expect(page.get_by_role("row", name=re.compile("acme-outreach")).first).to_contain_text(
        "yes: [ops] DNS move"
    )

    # Resume with the keyboard: focus the button, press Enter.
    page.get_by_role("button", name=f"Resume pool {fleet}/acme-outreach").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(f"MailboxPool {fleet}/acme-outreach resumed")
    pool = get(kube, "mailboxpool", "acme-outreach", fleet)
    assert pool["spec"]["paused"] is False and "pauseReason" not in pool["spec"]
    assert RESUME_ANNOTATION in pool["metadata"]["annotations"]  # potctl's patch: the operator's go-ahead

    # A campaign: paused from its page; cancelled only once the operator shows it Paused.
    page.goto(f"{console.url}/campaigns/{fleet}/welcome")
    page.get_by_role("button", name=f"Pause campaign {fleet}/welcome").click()
    assert get(kube, "campaign", "welcome", fleet)["spec"]["paused"] is True
    write_status(kube, "campaign", "welcome", fleet, {"phase": "Paused"})
    wait_until(
        lambda: (
            (console.state.view.campaigns.get((fleet, "welcome")) or {}).get("status", {}).get("phase")
            == "Paused"
        ),
        timeout=10,
        what="the watch",
    )
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.get_by_role("status")).to_have_text(f"Campaign {fleet}/welcome cancelled (deleted)")
    assert kube.kubectl("get", "campaign", "welcome", "-n", fleet, check=False).returncode != 0


def test_a_limited_kubeconfig_cannot_pause(
    page: Any, kube: ControlPlane, fleet: str, start_console: StartConsole
) -> None:
    grant(
        kube,
        fleet,
        "console-viewer",
        "get, list, watch",
        "{apiGroup: rbac.authorization.k8s.io, kind: User, name: pot-limited}",
    )
    console = start_console(kube.limited_kubeconfig, namespace=fleet)
    console.sign_in(page)
    expect(page.locator("table.data").first).to_contain_text("acme-outreach")
    page.get_by_role("button", name=f"Pause pool {fleet}/acme-outreach").click()
    expect(page.get_by_role("alert")).to_contain_text(
        'User "pot-limited" cannot patch resource "mailboxpools"'
    )
    assert pool_paused(kube, fleet) in (None, False)


def token(kube: ControlPlane, ns: str, account: str) -> str:
    kube.kubectl("create", "serviceaccount", account, "-n", ns)
    return kube.kubectl("create", "token", account, "-n", ns).stdout.strip()


def test_in_the_cluster_each_action_is_reviewed(
    browser: Any, kube: ControlPlane, fleet: str, start_console: StartConsole
) -> None:
    viewer = token(kube, fleet, "viewer")
    operator = token(kube, fleet, "operator")
    grant(
        kube,
        fleet,
        "viewer",
        "get, list, watch",
        f"{{kind: ServiceAccount, name: viewer, namespace: {fleet}}}",
    )
    grant(
        kube,
        fleet,
        "operator",
        "get, list, watch, patch",
        f"{{kind: ServiceAccount, name: operator, namespace: {fleet}}}",
    )
    console = start_console(kube.admin_kubeconfig, auth=AuthMode.KUBERNETES)

    def signed_in(bearer: str) -> Any:
        page = browser.new_context().new_page()
        page.goto(console.url + "/fleet")
        expect(page).to_have_url(re.compile("/login$"))  # never unauthenticated
        page.get_by_label("Bearer token").fill(bearer)
        page.get_by_role("button", name="Sign in").click()
        return page

    refused = signed_in("not-a-token")
    expect(refused.get_by_role("alert")).to_have_text("The apiserver did not accept that token.")

    page = signed_in(viewer)
    # Every namespace is more than this account may list; its own is fine.
    expect(page.get_by_role("alert")).to_contain_text('cannot list resource "mailboxpools"')
    page.goto(f"{console.url}/fleet?namespace={fleet}")
    expect(page.locator("table.data").first).to_contain_text("acme-outreach")
    expect(page.locator("header")).to_contain_text(f"system:serviceaccount:{fleet}:viewer")
    page.get_by_role("button", name=f"Pause pool {fleet}/acme-outreach").click()
    expect(page.get_by_role("alert")).to_contain_text(
        f'User "system:serviceaccount:{fleet}:viewer" cannot patch resource "mailboxpools" '
        'in API group "pot.dev"'
    )
    assert pool_paused(kube, fleet) in (None, False)
    page.goto(console.url + "/tools/check-emails")
    expect(page.get_by_role("alert")).to_contain_text(
        'cannot create resource "tools" in API group "console.pot.dev"'
    )

    allowed = signed_in(operator)
    allowed.goto(f"{console.url}/fleet?namespace={fleet}")
    allowed.get_by_role("button", name=f"Pause pool {fleet}/acme-outreach").click()
    expect(allowed.get_by_role("status")).to_contain_text("paused")
    assert pool_paused(kube, fleet) is True
