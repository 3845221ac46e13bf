"""The console's view of the cluster: the pot.dev objects kept current by list+watch, and the actions.

Listing is potctl's (potctl.kube_commands.list_objects), each row potctl's, each pause patch and API
error sentence potctl's (potctl.kube_views), so the console shows and does what `potctl status`,
`pause` and `resume` do. One watch thread per kind keeps 12,000 Mailboxes current without relisting;
pages read the latest state without waiting for the apiserver.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pot_common.api.base import GROUP, VERSION
from pot_common.api.kinds import CAMPAIGN, MAILBOX, MAILBOX_POOL, Kind
from potctl.kube_commands import REQUEST_TIMEOUT, Cluster, list_objects
from potctl.kube_views import KINDS, TAKES_REASON, Target, api_error_message, name_of, pause_patch

log = logging.getLogger("pot_console")

Key = tuple[str, str]
WATCH_SECONDS = 50
RETRY_SECONDS = 5.0
FIELD_MANAGER = "pot-console"


class ActionError(Exception):
    """An action the apiserver refused or could not take; str() is the sentence to show."""


def kube_error(error: Exception, subject: str) -> str:
    """potctl's sentence for a failed API call (the apiserver's own message where there is one)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(error, ApiException):
        return api_error_message(error.status, error.body, subject)
    return f"cannot reach the Kubernetes API: {error}"


class Informer:
    """Every object of one kind (in one namespace or all), listed once and then watched, in a thread.

    `derive` turns an object into what the pages use (e.g. a Fleet row) once per change, not per page
    view; `on_change` hears each changed object (the campaign history samples its counts).
    """

    def __init__(
        self,
        cluster: Cluster,
        kind: Kind,
        namespace: str | None,
        derive: Callable[[dict[str, Any]], Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.kind = kind
        self.namespace = namespace
        self.derive = derive
        self.on_change = on_change
        self.objects: dict[Key, dict[str, Any]] = {}
        self.derived: dict[Key, Any] = {}
        self.error = ""
        self.synced = threading.Event()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def subject(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"listing {self.kind.plural}.{GROUP}{where}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind.plural}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def values(self) -> list[Any]:
        with self._lock:
            return list(self.derived.values())

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.objects.values())

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            return self.objects.get(key)

    def upsert(self, obj: dict[str, Any]) -> None:
        key = name_of(obj)
        value = self.derive(obj) if self.derive else obj
        with self._lock:
            self.objects[key] = obj
            self.derived[key] = value
        if self.on_change:
            self.on_change(obj)

    def replace(self, objects: list[dict[str, Any]]) -> None:
        derived = {name_of(o): (self.derive(o) if self.derive else o) for o in objects}
        with self._lock:
            self.objects = {name_of(o): o for o in objects}
            self.derived = derived
        if self.on_change:
            for obj in objects:
                self.on_change(obj)

    def remove(self, key: Key) -> None:
        with self._lock:
            self.objects.pop(key, None)
            self.derived.pop(key, None)

    def _list_version(self) -> str:
        """The collection's resourceVersion now: watching from it misses nothing the list then reads."""
        args: dict[str, Any] = {"limit": 1, "_request_timeout": REQUEST_TIMEOUT}
        api = self.cluster.api
        if self.namespace:
            page = api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, self.kind.plural, **args)
        else:
            page = api.list_cluster_custom_object(GROUP, VERSION, self.kind.plural, **args)
        return str((page.get("metadata") or {}).get("resourceVersion") or "")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version = self._list_version()
                self.replace(list_objects(self.cluster, self.kind, self.namespace))
                self.error = ""
                self.synced.set()
                self._watch(version)
            except Exception as error:
                if self._stop.is_set():
                    return
                self.error = kube_error(error, self.subject)
                if not self.namespace and "forbidden" in self.error:
                    self.error += " (start the console with -n NAMESPACE for a namespace you may read)"
                self.synced.set()
                log.warning("Listed %s failed: %s", self.kind.plural, self.error)
                self._stop.wait(RETRY_SECONDS)

    def _watch(self, version: str) -> None:
        """Apply watch events until the apiserver says the version is gone (then the caller relists)."""
        from kubernetes import watch

        api = self.cluster.api
        while not self._stop.is_set():
            stream = watch.Watch()  # type: ignore[no-untyped-call]
            args: dict[str, Any] = {
                "resource_version": version,
                "timeout_seconds": WATCH_SECONDS,
                "allow_watch_bookmarks": True,
                "_request_timeout": WATCH_SECONDS + 10,
            }
            if self.namespace:
                events = stream.stream(  # type: ignore[no-untyped-call]
                    api.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    self.kind.plural,
                    **args,
                )
            else:
                events = stream.stream(  # type: ignore[no-untyped-call]
                    api.list_cluster_custom_object, GROUP, VERSION, self.kind.plural, **args
                )
            for event in events:
                if self._stop.is_set():
                    stream.stop()  # type: ignore[no-untyped-call]
                    return
                obj = event.get("object") or {}
                kind = event.get("type")
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return  # too old: list again
                    raise RuntimeError(str(obj.get("message") or obj))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "DELETED":
                    self.remove(name_of(obj))
                elif kind in ("ADDED", "MODIFIED"):
                    self.upsert(obj)


@dataclass
class ClusterView:
    """The three kinds' informers and the actions, over one connection (the caller's or the console's)."""

    cluster: Cluster
    namespace: str | None
    pools: Informer
    mailboxes: Informer
    campaigns: Informer

    @classmethod
    def create(
        cls,
        cluster: Cluster,
        namespace: str | None,
        mailbox_row: Callable[[dict[str, Any]], Any],
        campaign_seen: Callable[[dict[str, Any]], None] | None = None,
    ) -> ClusterView:
        return cls(
            cluster,
            namespace,
            Informer(cluster, MAILBOX_POOL, namespace),
            Informer(cluster, MAILBOX, namespace, derive=mailbox_row),
            Informer(cluster, CAMPAIGN, namespace, on_change=campaign_seen),
        )

    @property
    def informers(self) -> tuple[Informer, ...]:
        return self.pools, self.mailboxes, self.campaigns

    def informer(self, target: Target) -> Informer:
        return {Target.POOL: self.pools, Target.MAILBOX: self.mailboxes, Target.CAMPAIGN: self.campaigns}[
            target
        ]

    def start(self) -> None:
        for informer in self.informers:
            informer.start()

    def stop(self) -> None:
        for informer in self.informers:
            informer.stop()

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(i.synced.wait(max(0.0, deadline - time.monotonic())) for i in self.informers)

    def set_paused(self, target: Target, namespace: str, name: str, paused: bool, reason: str | None) -> str:
        """potctl pause/resume: the merge patch, with the caller's RBAC; the sentence potctl prints."""
        if reason is not None and target not in TAKES_REASON:
            raise ActionError(f"a {target.value} has no pause reason field; pause it without one")
        kind = KINDS[target]
        subject = f"{kind.kind} {namespace}/{name}"
        try:
            updated = self.cluster.api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                kind.plural,
                name,
                pause_patch(target, paused, reason, dt.datetime.now(dt.UTC)),
                field_manager=FIELD_MANAGER,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except Exception as error:
            raise ActionError(kube_error(error, subject)) from None
        self.informer(target).upsert(updated)
        verb = "paused" if paused else "resumed"
        return f"{subject} {verb}" + (f": {reason}" if paused and reason else "")

    def cancel_campaign(self, namespace: str, name: str) -> str:
        """Delete a Campaign that the operator already shows Paused: what was not sent never will be."""
        subject = f"Campaign {namespace}/{name}"
        current = self.campaigns.get((namespace, name))
        phase = ((current or {}).get("status") or {}).get("phase")
        if phase != "Paused":
            raise ActionError(f"{subject}: pause it first and cancel once the operator shows it Paused")
        try:
            self.cluster.api.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, CAMPAIGN.plural, name, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as error:
            raise ActionError(kube_error(error, subject)) from None
        self.campaigns.remove((namespace, name))
        return f"{subject} cancelled (deleted)"

    def events(
        self, kind: str, namespace: str, name: str, limit: int = 20
    ) -> tuple[list[dict[str, Any]], str]:
        """The newest Kubernetes Events about one object, and an error sentence when they cannot be read."""
        from kubernetes import client

        core = client.CoreV1Api(self.cluster.api.api_client)
        try:
            listed = core.list_namespaced_event(
                namespace,
                field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except Exception as error:
            return [], kube_error(error, f"listing events of {kind} {namespace}/{name}")
        rows = []
        for event in listed.items:
            when = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
            rows.append(
                {
                    "when": when,
                    "type": event.type or "",
                    "reason": event.reason or "",
                    "message": event.message or "",
                    "count": event.count or 1,
                }
            )
        rows.sort(key=lambda r: r["when"] or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)
        return rows[:limit], ""

    def ready(self) -> tuple[bool, str]:
        """The apiserver's /readyz, through the same connection and credentials."""
        api_client = self.cluster.api.api_client
        try:
            method, url, headers, body, post = api_client.param_serialize(
                "GET", "/readyz", auth_settings=["BearerToken"]
            )
            response = api_client.call_api(method, url, headers, body, post, _request_timeout=(5, 5))
            response.read()
            text = (response.data or b"").decode("utf-8", "replace").strip()
            if response.status != 200:
                return False, f"/readyz answered {response.status}: {text[:200]}"
            return True, f"{api_client.configuration.host} /readyz: {text or 'ok'}"
        except Exception as error:
            return False, kube_error(error, "the apiserver's /readyz")
