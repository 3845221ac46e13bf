"""Property: every potctl command, on any input, ends with exit status 0, 1 or 2 and never a traceback;
a refused input is one `error:` line naming it. Hypothesis makes the inputs (domains, IPs, addresses,
names, files of any bytes); potctl runs in-process through `potctl.main.run`, with a resolver that
answers every name at once (NXDOMAIN) and no database or cluster configured, so the inputs are all
that is exercised. The examples are bounded so the whole file runs in seconds.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pot_deliverability.dns import Answer, Status
from potctl.main import run

EXAMPLES = settings(
    max_examples=int(os.environ.get("POT_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text as people and hostile files give it: any Unicode, control characters, dots and slashes, and the
# shapes the issue saw break things (empty labels, emoji, over-long names, 999.1.1.1).
tricky = st.sampled_from(
    [
        "",
        ".",
        "..",
        "../..",
        "\U0001f600.example",
        "a" * 300,
        "x." * 140 + "com",
        "999.1.1.1",
        "-",
        "@",
        "a@b",
    ]
)
text = st.one_of(tricky, st.text(max_size=80), st.text(alphabet="abc.-_@:/%[]0123456789 \x00\t", max_size=40))
domains = st.one_of(text, st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,3}", fullmatch=True))
ips = st.one_of(text, st.ip_addresses().map(str))


class Nowhere:
    """Every name is NXDOMAIN, at once."""

    async def lookup(self, name: str, rdtype: str) -> Answer:
        return Answer(Status.NXDOMAIN)


@contextmanager
def isolated() -> Iterator[None]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POT_", "KUBECONFIG"))}
    with (
        mock.patch.dict(os.environ, {**clean, "HOME": tempfile.gettempdir()}, clear=True),
        mock.patch("potctl.check_commands.resolver_from_env", lambda address=None: Nowhere()),
    ):
        yield


def potctl(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    with isolated(), redirect_stdout(out), redirect_stderr(err), mock.patch("sys.stdin", _Stdin(stdin)):
        code = run(list(args))
    return code, out.getvalue(), err.getvalue()


class _Stdin(StringIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data.decode("utf-8", "surrogateescape"))
        self.buffer = _Bytes(data)

    def isatty(self) -> bool:
        return False


class _Bytes:
    def __init__(self, data: bytes) -> None:
        from io import BytesIO

        self._data = BytesIO(data)

    def readline(self, size: int = -1) -> bytes:
        return self._data.readline(size)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def assert_clean(result: tuple[int, str, str]) -> None:
    code, out, err = result
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in out + err, err
    assert "error: unexpected" not in err, err  # what main's last-resort guard says about a bug
    if code == 2 and "Usage:" not in out:  # (`potctl` alone shows its help and ends with 2)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, err


@EXAMPLES
@given(
    domain=domains, smtp_host=st.none() | domains, from_domain=st.none() | domains, selector=st.none() | text
)
def test_preflight(domain: str, smtp_host: str | None, from_domain: str | None, selector: str | None) -> None:
    args = ["preflight", "--", domain] if domain.startswith("-") else ["preflight", domain]
    for flag, value in (
        ("--smtp-host", smtp_host),
        ("--from-domain", from_domain),
        ("--dkim-selector", selector),
    ):
        if value is not None:
            args[1:1] = [f"{flag}={value}"]
    assert_clean(potctl(*args))


@EXAMPLES
@given(ip=ips, sender=text, helo=text)
def test_spf_check(ip: str, sender: str, helo: str) -> None:
    assert_clean(potctl("spf-check", f"--ip={ip}", f"--sender={sender}", f"--helo={helo}"))


@EXAMPLES
@given(blocklists=text, output=text, resolver=text)
def test_preflight_options(blocklists: str, output: str, resolver: str) -> None:
    assert_clean(
        potctl(
            "preflight", "good.test", f"--blocklists={blocklists}", f"-o={output}", f"--resolver={resolver}"
        )
    )


@EXAMPLES
@given(
    data=st.binary(max_size=3000),
    suffix=st.sampled_from([".csv", ".txt"]),
    output=st.sampled_from(["json", "csv", "table"]),
)
def test_check_emails_on_any_file(data: bytes, suffix: str, output: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"list{suffix}"
        source.write_bytes(data)
        code, out, err = potctl("check-emails", str(source), "--mode", "syntax", "-o", output)
    assert_clean((code, out, err))
    assert code == 0


@EXAMPLES
@given(lines=st.lists(text, max_size=20))
def test_check_emails_format_mx_on_stdin(lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    assert_clean(
        potctl("check-emails", "-", "--mode", "format+mx", "-o", "json", "--test-domains", stdin=data)
    )


@EXAMPLES
@given(per_host=st.integers(-5, 5), interval=st.floats(allow_nan=True), port=st.integers(-1, 70000))
def test_check_emails_numbers(per_host: int, interval: float, port: int) -> None:
    assert_clean(
        potctl(
            "check-emails",
            "-",
            "--mode",
            "syntax",
            f"--per-host={per_host}",
            f"--interval={interval}",
            f"--probe-port={port}",
            stdin=b"a@example.com\n",
        )
    )


@EXAMPLES
@given(addresses=st.lists(text, min_size=1, max_size=3), tenant=text, source=text)
def test_suppression_add(addresses: list[str], tenant: str, source: str) -> None:
    assert_clean(potctl("suppression", "add", f"--tenant={tenant}", f"--source={source}", "--", *addresses))


@EXAMPLES
@given(kind=st.sampled_from(["bounce", "complaint", "reply", "nonsense"]), address=text, campaign=text)
def test_feedback(kind: str, address: str, campaign: str) -> None:
    assert_clean(potctl("feedback", "--tenant=acme", f"--campaign={campaign}", "--", kind, address))


@EXAMPLES
@given(data=st.binary(max_size=2000), tenant=text, list_name=text, report=text)
def test_import_recipients_and_feedback_csv_on_any_file(
    data: bytes, tenant: str, list_name: str, report: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "r.csv"
        source.write_bytes(data)
        assert_clean(
            potctl(
                "import-recipients",
                str(source),
                f"--tenant={tenant}",
                f"--list={list_name}",
                f"--report={report}",
            )
        )
        assert_clean(potctl("feedback", "--csv", str(source), f"--tenant={tenant}"))


@EXAMPLES
@given(
    kind=st.sampled_from(["pool", "mailbox", "campaign", "other"]),
    name=text,
    namespace=text,
    reason=st.none() | text,
)
def test_pause_and_resume(kind: str, name: str, namespace: str, reason: str | None) -> None:
    extra = [f"--reason={reason}"] if reason is not None else []
    with tempfile.TemporaryDirectory() as folder:
        config = ["--kubeconfig", str(Path(folder) / "absent")]
        assert_clean(potctl("pause", f"-n={namespace}", *extra, *config, "--", kind, name))
        assert_clean(potctl("resume", f"-n={namespace}", *config, "--", kind, name))
        assert_clean(potctl("status", f"-n={namespace}", *config))


@EXAMPLES
@given(message=text, chat_id=text, parse_mode=text)
def test_send_telegram(message: str, chat_id: str, parse_mode: str) -> None:
    assert_clean(potctl("send-telegram", f"--chat-id={chat_id}", f"--parse-mode={parse_mode}", "--", message))


@EXAMPLES
@given(args=st.lists(text, max_size=4))
def test_any_arguments_at_all(args: list[str]) -> None:
    assert_clean(potctl(*args))


def test_a_usage_error_is_one_line_naming_the_input() -> None:
    code, _, err = potctl("check-emails", "--per-host", "abc")
    assert code == 2 and err.strip().splitlines() == [
        "error: Invalid value for '--per-host' / '--per-domain': Input should be a valid integer, "
        "unable to parse string as an integer (see potctl --help)"
    ]


def test_the_issue_s_inputs_each_get_one_line_and_status_2(tmp_path: Any) -> None:
    for args in (
        ["preflight", "a" * 300 + ".example"],
        ["preflight", "a..example"],
        ["preflight", "."],
        ["preflight", "../.."],
        ["preflight", "\U0001f600.example"],
        ["spf-check", "--ip", "999.1.1.1", "--sender", "a@good.test"],
        ["suppression", "add", "x" * 100_007, "--tenant", "acme"],
    ):
        code, _, err = potctl(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), (args, err)
