"""Thin async wrappers over the Kubernetes API for what kopf's handler patches do not cover.

Used by the controllers' observe and apply steps (status of other objects, Deployments, Secrets, ConfigMaps).
The official client is synchronous, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any, TypeVar

import kubernetes
from kubernetes.client.exceptions import ApiException

GROUP = "pot.dev"
VERSION = "v1alpha1"
T = TypeVar("T")


async def _read_or_none(read: Callable[..., T], *args: Any) -> T | None:
    """`read(*args)` in a worker thread; None when the object does not exist (404)."""
    try:
        return await asyncio.to_thread(read, *args)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


class KubeApi:
    """One API client for the process, configured like kopf (kubeconfig locally, service account in a pod)."""

    def __init__(self) -> None:
        try:
            kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
        configuration = kubernetes.client.Configuration.get_default_copy()
        # Patches of many mailboxes run concurrently; the default pool of 4 would serialise them.
        configuration.connection_pool_maxsize = 16
        self.client = kubernetes.client.ApiClient(configuration)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)
        self.apps = kubernetes.client.AppsV1Api(self.client)
        self.core = kubernetes.client.CoreV1Api(self.client)

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch the status subresource; a vanished object is not an error."""
        try:
            await asyncio.to_thread(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                {"status": status},
            )
        except ApiException as e:
            if e.status != 404:
                raise

    async def list_objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of a kind, in pages (12,000 mailboxes in one response would be one huge body)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page: Any
            if namespace:
                page = await asyncio.to_thread(
                    self.custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    plural,
                    limit=1000,
                    _continue=token,
                )
            else:
                page = await asyncio.to_thread(
                    self.custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    plural,
                    limit=1000,
                    _continue=token,
                )
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    async def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = await _read_or_none(self.apps.read_namespaced_deployment, name, namespace)
        if obj is None:
            return None
        result: dict[str, Any] = self.client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return result

    async def create_deployment(self, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        await asyncio.to_thread(self.apps.create_namespaced_deployment, namespace, body)  # type: ignore[arg-type]

    async def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        await asyncio.to_thread(self.apps.patch_namespaced_deployment, name, namespace, patch)

    async def read_secret_keys(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The decoded data of a Secret, or None if it does not exist. The caller must not keep it."""
        obj = await _read_or_none(self.core.read_namespaced_secret, name, namespace)
        if obj is None:
            return None
        return {k: base64.b64decode(v) for k, v in (obj.data or {}).items()}

    async def read_config_map_key(self, namespace: str, name: str, key: str) -> str | None:
        obj = await _read_or_none(self.core.read_namespaced_config_map, name, namespace)
        if obj is None:
            return None
        data = obj.data or {}
        value = data.get(key)
        return str(value) if value is not None else None

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]
