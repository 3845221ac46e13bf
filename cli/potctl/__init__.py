"""potctl: the operator tooling CLI (typer/rich)."""
