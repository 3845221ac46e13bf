"""`potctl console`: serve the operator console; potctl.main mounts this command.

Locally it listens on loopback, acts with the caller's kubeconfig and prints a URL holding a random
token; in the cluster (the chart's Deployment) it runs with `--auth kubernetes`. The web stack is
imported only when the command runs, so every other potctl command starts as fast as before.
"""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer
from potctl.console import err
from potctl.kube_commands import ContextOpt, KubeconfigOpt, connect

from pot_console.settings import AuthMode, ConsoleSettings


def console_cmd(
    host: Annotated[
        str,
        typer.Option(
            "--host", envvar="POT_CONSOLE_HOST", help="Address to listen on. Default: loopback only."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="POT_CONSOLE_PORT", help="Port to listen on.")] = 8765,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Show only this namespace (for a user who may not list all)."),
    ] = None,
    auth: Annotated[
        AuthMode,
        typer.Option(
            "--auth",
            envvar="POT_CONSOLE_AUTH",
            help="local: a token in the printed URL, actions with your kubeconfig. kubernetes: in the "
            "cluster, bearer tokens checked with TokenReview, actions with SubjectAccessReview.",
        ),
    ] = AuthMode.LOCAL,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the console in your browser.")
    ] = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Serve the operator console: fleet, campaigns, mailboxes, tools and diagnostics in a browser.

    The pages show the pot.dev objects as `potctl status` does and the tools run potctl itself, with
    the flags as form fields and the output streamed. Locally every action uses **your kubeconfig**,
    so the cluster's RBAC decides what you may do. The URL printed on stderr holds a one-off token;
    anyone with it can act as you until you stop the console.

    Example: `source .pot/env && potctl console --open`
    """
    import uvicorn

    from pot_console.app import create_app
    from pot_console.auth import Auth, KubernetesAuth, LocalAuth

    settings = ConsoleSettings.from_env(host=host, port=port, namespace=namespace, auth=auth)
    with connect(kubeconfig, context) as cluster:
        guard: Auth
        if auth is AuthMode.KUBERNETES:
            guard = KubernetesAuth(cluster.api.api_client, settings.audiences)
            url = f"http://{host}:{port}/"
        else:
            local = LocalAuth()
            guard = local
            url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/?token={local.token}"
        app = create_app(settings, cluster, guard)
        err.print(f"POT console on {url}  (Ctrl-C stops it)", highlight=False, soft_wrap=True)
        if open_browser:
            webbrowser.open(url)
        # No access log: the first request's URL carries the local token.
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
