"""Test-wide fixtures: each real server of the local stack, started once per session on demand."""

pytest_plugins = ["pot_stack.fixtures", "pot_stack.fixtures_kube"]
