"""Entry point of `pot-ingester`; filled in by the ingester work (issue 13)."""

import sys


def main() -> None:
    print("pot-ingester: not built yet", file=sys.stderr)
    sys.exit(2)
