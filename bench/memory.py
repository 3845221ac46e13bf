"""`make bench-memory`: potctl's peak memory on a million rows, which must stay under 200 MiB each.

Two real potctl processes, measured by the kernel (the child's maximum resident set size, wait4):
`import-recipients` of a 1,000,000-row CSV into the local stack's PostgreSQL (1 % of the rows bad, so
the report has something to stream), and `check-emails --mode syntax -o json` of 1,000,000 addresses.
Both read, check and write in bounded batches; before issue 16 they held everything (1.04 GB and
538 MB). Prints name=value lines.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 1_000_000
LIMIT_MIB = 200


def write_inputs(folder: Path) -> tuple[Path, Path]:
    recipients = folder / "recipients.csv"
    addresses = folder / "addresses.txt"
    with recipients.open("w") as csv_file, addresses.open("w") as text_file:
        csv_file.write("email,first_name,company\n")
        for i in range(ROWS):
            address = f"person{i}@company{i % 5000}.com" if i % 100 else f"broken row {i}"
            csv_file.write(f"{address},Person {i},Company {i % 5000}\n")
            text_file.write(f"person{i}@company{i % 5000}.com\n")
    return recipients, addresses


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit status) of one potctl process, its output thrown away."""
    started = time.monotonic()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "potctl.main", *args],
            stdout=sink,
            stderr=sink,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.monotonic() - started, process.returncode


def main() -> None:
    import asyncpg
    from pot_common.db import apply_schema
    from pot_stack.postgres import Postgres

    with tempfile.TemporaryDirectory(prefix="pot-bench-memory-") as root:
        recipients, addresses = write_inputs(Path(root))
        postgres = Postgres(Path(root) / "stack")
        postgres.start()
        try:

            async def schema() -> None:
                conn = await asyncpg.connect(postgres.url)
                try:
                    await apply_schema(conn)
                finally:
                    await conn.close()

            asyncio.run(schema())
            env = {**os.environ, "POT_DATABASE_URL": postgres.url}
            env.pop("POT_DNS_RESOLVER", None)
            imported = measure(
                [
                    "import-recipients",
                    str(recipients),
                    "--tenant",
                    "bench",
                    "--list",
                    "million",
                    "--report",
                    "json",
                ],
                env,
            )
        finally:
            postgres.stop()
        checked = measure(["check-emails", str(addresses), "--mode", "syntax", "-o", "json"], env)
    for name, (rss, seconds, status) in (("import", imported), ("check_emails", checked)):
        print(f"{name}_rows={ROWS}")
        print(f"{name}_peak_rss_mib={rss:.1f}")
        print(f"{name}_s={seconds:.1f}")
        print(f"{name}_exit_status={status}")
    print(f"limit_mib={LIMIT_MIB}")
    print(f"under_limit={int(imported[0] < LIMIT_MIB and checked[0] < LIMIT_MIB)}")


if __name__ == "__main__":
    main()
