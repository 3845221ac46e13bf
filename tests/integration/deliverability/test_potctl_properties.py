"""Property: import-recipients and feedback against a real Postgres, on CSV files of any bytes, end with
exit status 0, 1 or 2 and never a traceback; what they could not take is reported per line. Bounded
examples, in-process (potctl.main.run), one database for all of them."""

from __future__ import annotations

import os
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from potctl.main import run

cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["a@x.test", "A@X.TEST", "b@x.test", "not-an-address", "", '"quoted"', "\x00", "é@x.test"]
    ),
)
rows = st.lists(st.lists(cells, min_size=1, max_size=4), max_size=15)


def potctl(database: str, *args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    env = {**os.environ, "POT_DATABASE_URL": database, "POT_DNS_RESOLVER": "127.0.0.1:1"}
    with mock.patch.dict(os.environ, env, clear=True), redirect_stdout(out), redirect_stderr(err):
        code = run(list(args))
    return code, out.getvalue(), err.getvalue()


def as_csv(header: list[str], body: list[list[str]]) -> bytes:
    import csv

    buffer = StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(body)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    header=st.sampled_from([["email", "first_name"], ["address", "kind"], ["name"], ["email"]]),
    body=rows,
    noise=st.binary(max_size=200),
)
def test_imports_and_feedback_on_any_csv(
    database: Any, header: list[str], body: list[list[str]], noise: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "r.csv"
        source.write_bytes(as_csv(header, body) + noise)
        for args in (
            ("import-recipients", str(source), "--tenant", "acme", "--list", "spring", "--report", "json"),
            ("import-recipients", str(source), "--tenant", "acme", "--list", "spring"),
            ("feedback", "--csv", str(source), "--tenant", "acme"),
        ):
            code, out, err = potctl(database, *args)
            assert code in (0, 1, 2), (args, code, err)
            assert "Traceback" not in out + err and "error: unexpected" not in err, err
            assert "Postgres refused" not in err, err
