"""`python -m pot_stack up|down|status|demo`: the command line behind `make up` and `make down`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pot_stack import stack

app = typer.Typer(add_completion=False, no_args_is_help=True, help="POT's local stack on loopback.")

ROOT_OPTION = typer.Option(
    stack.DEFAULT_ROOT, "--root", help="folder for state, logs, data, env and kubeconfig"
)

WITHOUT_CONTROLPLANE_OPTION = typer.Option(
    False, "--without-controlplane", help="skip kube-apiserver/etcd (and so the CRDs): data services only"
)
CRDS_OPTION = typer.Option(stack.CRDS_DIR, "--crds", help="folder of CRD manifests to install")


@app.command()
def up(
    root: Path = ROOT_OPTION,
    without_controlplane: bool = WITHOUT_CONTROLPLANE_OPTION,
    crds: Path = CRDS_OPTION,
) -> None:
    """Start the stack (or say it is already up) and return."""
    try:
        state = stack.up(root, with_controlplane=not without_controlplane, crds_dir=crds)
    except Exception as error:
        Console(stderr=True).print(f"[red]make up failed:[/red] {error}")
        Console(stderr=True).print(f"Logs: {root.resolve() / 'logs'}")
        raise typer.Exit(1) from error
    Console().print(stack.status_table(state))


@app.command()
def down(root: Path = ROOT_OPTION) -> None:
    """Stop everything `up` started; fails if any process is left."""
    if stack.down(root):
        raise typer.Exit(1)


@app.command()
def demo(
    root: Path = ROOT_OPTION,
    timeout: float = typer.Option(
        600.0, help="Give up when the campaign has not completed after this many seconds."
    ),
) -> None:
    """Apply examples/ to the running stack and watch the example campaign send until it completes."""
    from pot_stack import demo as demo_module

    try:
        code = demo_module.run(root, timeout=timeout)
    except Exception as error:
        Console(stderr=True).print(f"[red]make demo failed:[/red] {error}")
        Console(stderr=True).print(f"Logs: {root.resolve() / 'logs'}")
        raise typer.Exit(1) from error
    raise typer.Exit(code)


@app.command()
def status(root: Path = ROOT_OPTION) -> None:
    """Show what runs where; exit 1 when the stack is not (fully) up."""
    if not stack.status(root):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
