"""Entry point of `pot-unsubscribe`; filled in by the unsubscribe endpoint work (issue 13)."""

import sys


def main() -> None:
    print("pot-unsubscribe: not built yet", file=sys.stderr)
    sys.exit(2)
