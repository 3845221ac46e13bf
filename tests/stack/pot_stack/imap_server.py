"""Dovecot as the stack's IMAP server (each mailbox's inbox, where late bounces and replies land); for
pot_stack.stack (make up), the fixtures and the SMTP sink's late delivery.

Dovecot comes from Debian's packages, unpacked by tests/stack/build-imap.sh into ~/.cache/pot/imap (a
warm cache answers at once), and runs unprivileged on loopback with its own config in `<root>/imap/`:

- users in passwd-files (one per user) that `add_user()` writes while it runs;
  mail in `<root>/imap/mail/<user>/Maildir`;
- IMAP on `.port` (plain, STARTTLS offered, plaintext LOGIN allowed as on a test box) and implicit
  TLS on `.tls_port` with a self-signed certificate (`.cert_path`);
- AUTHENTICATE PLAIN/LOGIN against the passwd-file and, when an OAuth2 introspection URL is given,
  XOAUTH2/OAUTHBEARER checked against it (pot_stack.oauth_server) — a user still needs `add_user()`;
- LMTP on `.lmtp_port`: `deliver()` hands a message to the user's INBOX as a provider's MDA does
  (an unknown user is refused with 550), which is also how the sink's late delivery arrives;
- IDLE wakes within a second of a delivery (`mailbox_idle_check_interval`).

When we run as root Dovecot refuses root for its login and mail processes: they run as `nobody`, so
the unpacked tree is hard-linked (or copied) into `<root>/imap/dovecot/`, where `nobody` can reach
it (a 0700 home hides the cache).
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from pot_stack.service import Service, free_port, wait_until
from pot_stack.smtp_sink import make_self_signed

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "build-imap.sh"
# Services whose executable Debian's build looks up under /usr/lib/dovecot: each gets its full path.
EXECUTABLES = {
    "aggregator": "aggregator",
    "anvil": "anvil",
    "auth": "auth",
    "auth-worker": "auth -w",
    "config": "config",
    "dict": "dict",
    "dict-async": "dict",
    "director": "director",
    "dns-client": "dns-client",
    "doveadm": "doveadm-server",
    "health-check": "script -p health-check.sh",
    "imap": "imap",
    "imap-hibernate": "imap-hibernate",
    "imap-login": "imap-login",
    "imap-urlauth": "imap-urlauth",
    "imap-urlauth-login": "imap-urlauth-login",
    "imap-urlauth-worker": "imap-urlauth-worker",
    "indexer": "indexer",
    "indexer-worker": "indexer-worker",
    "ipc": "ipc",
    "lmtp": "lmtp",
    "log": "log",
    "old-stats": "old-stats",
    "pop3": "pop3",
    "pop3-login": "pop3-login",
    "replicator": "replicator",
    "stats": "stats",
    "submission": "submission",
    "submission-login": "submission-login",
    "tcpwrap": "tcpwrap",
}


def dovecot_tree() -> Path:
    """POT_DOVECOT_DIR if set, else what build-imap.sh unpacked (or finds cached)."""
    override = os.environ.get("POT_DOVECOT_DIR")
    if override:
        return Path(override)
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{BUILD_SCRIPT} printed no folder")
    return Path(lines[-1])


def _reachable_by(path: Path, uid: int) -> bool:
    """Every folder above `path` lets `uid` through (mode bits only, as Dovecot's children see them)."""
    for folder in [path, *path.parents]:
        st = folder.stat()
        bit = 0o100 if st.st_uid == uid else 0o001
        if not st.st_mode & bit:
            return False
    return True


def _link_tree(source: Path, target: Path) -> None:
    """Hard links where the filesystem allows (instant), copies where not."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link, dirs_exist_ok=True)


class ImapServer(Service):
    """Dovecot: `.host`, `.port`, `.tls_port`, `.lmtp_port`, `.cert_path`, `.add_user()`, `.deliver()`,
    `.restart()` (same ports, same mail), `.env()`."""

    name = "imap"
    host = "127.0.0.1"

    def __init__(
        self,
        root: Path,
        *,
        oauth_introspect_url: str | None = None,
        port: int | None = None,
        tls_port: int | None = None,
        lmtp_port: int | None = None,
    ) -> None:
        super().__init__(root)
        self.oauth_introspect_url = oauth_introspect_url
        self.port = port or 0
        self.tls_port = tls_port or 0
        self.lmtp_port = lmtp_port or 0
        self.mail = self.dir / "mail"
        self.users_dir = self.dir / "users"  # one passwd-file per user: a new one is seen at once
        self.config = self.dir / "dovecot.conf"
        self.base_dir = self.dir / "run"
        self.cert_path = self.dir / "imap-cert.pem"
        self.key_path = self.dir / "imap-key.pem"
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.user, self.uid, self.gid = "nobody", nobody.pw_uid, nobody.pw_gid
        else:
            me = pwd.getpwuid(os.getuid())
            self.user, self.uid, self.gid = me.pw_name, me.pw_uid, me.pw_gid
        self._tree: Path | None = None

    @classmethod
    def attach(cls, root: Path, env: Mapping[str, str]) -> ImapServer:
        """The server `make up` started in `root` (its ports from `.pot/env`), to add users and deliver."""
        server = cls(
            root,
            port=int(env["POT_STACK_IMAP_PORT"]),
            tls_port=int(env["POT_STACK_IMAP_TLS_PORT"]),
            lmtp_port=int(env["POT_STACK_IMAP_LMTP_PORT"]),
        )
        server.host = env.get("POT_STACK_IMAP_HOST", server.host)
        return server

    def env(self) -> dict[str, str]:
        return {
            "POT_STACK_IMAP_HOST": self.host,
            "POT_STACK_IMAP_PORT": str(self.port),
            "POT_STACK_IMAP_TLS_PORT": str(self.tls_port),
            "POT_STACK_IMAP_CA_FILE": str(self.cert_path),
            "POT_STACK_IMAP_LMTP_PORT": str(self.lmtp_port),
        }

    # -- users and mail ---------------------------------------------------------------------------

    def add_user(self, username: str, password: str | None = None) -> None:
        """A mailbox `username` (case-insensitive, as providers treat addresses); without a password
        it can log in only with XOAUTH2. Adding a user again replaces the password."""
        if not username or any(c in username for c in ":\n/") or username.startswith("."):
            raise ValueError(f"IMAP username {username!r} must be non-empty without ':', '/' or a newline")
        if password is not None and any(c in password for c in ":\n"):
            raise ValueError(f"IMAP password for {username!r} must not contain ':' or a newline")
        user = username.lower()
        path = self.users_dir / user
        replacing = path.exists()
        secret = password if password is not None else os.urandom(16).hex()
        home = self.mail / user
        tmp = self.users_dir / f".{user}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        if os.geteuid() == 0:
            os.fchown(fd, self.uid, self.gid)  # Dovecot's auth process reads it as that user
        with os.fdopen(fd, "w") as out:
            out.write(f"{user}:{{PLAIN}}{secret}:{self.uid}:{self.gid}::{home}::\n")
        os.replace(tmp, path)  # Dovecot sees a new file, never a half-written one
        if replacing:
            # Dovecot looks at a file it has read at most once a second: wait that out, so the
            # new password counts from the moment this returns.
            time.sleep(1.1)

    def has_user(self, username: str) -> bool:
        return (self.users_dir / username.lower()).exists()

    def deliver(self, username: str, raw: bytes, *, sender: str = "") -> None:
        """Put `raw` (an RFC 5322 message) into the user's INBOX over LMTP; raises on refusal."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            lmtp.sendmail(sender, [username], raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))

    # -- lifecycle --------------------------------------------------------------------------------

    def _dovecot(self) -> Path:
        """The unpacked tree, linked into the stack's folder when our children could not reach it."""
        if self._tree is None:
            tree = dovecot_tree()
            if not _reachable_by(tree / "usr/lib/dovecot/imap", self.uid):
                local = self.dir / "dovecot"
                if not (local / ".complete").exists():
                    _link_tree(tree, local)
                    (local / ".complete").touch()
                tree = local
            self._tree = tree
        return self._tree

    def _write_config(self, tree: Path) -> None:
        lib = tree / "usr/lib/dovecot"
        services = "".join(
            f"service {name} {{\n  executable = {lib}/{exe}\n}}\n" for name, exe in EXECUTABLES.items()
        )
        mechanisms = "plain login"
        oauth = ""
        if self.oauth_introspect_url:
            mechanisms += " xoauth2 oauthbearer"
            oauth_conf = self.dir / "oauth2.conf.ext"
            oauth_conf.write_text(
                f"introspection_mode = post\nintrospection_url = {self.oauth_introspect_url}\n"
                "force_introspection = yes\nusername_attribute = username\n"
                "active_attribute = active\nactive_value = true\n"
            )
            oauth = "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            oauth += f"  args = {oauth_conf}\n}}\n"
        self.config.write_text(
            f"""# Written by pot_stack.imap_server at each start.
import_environment = TZ LD_LIBRARY_PATH
base_dir = {self.base_dir}
state_dir = {self.dir / "state"}
instance_name = pot-imap-{self.port}
listen = {self.host}
protocols = imap lmtp
log_path = /dev/stderr
auth_verbose = yes
default_internal_user = {self.user}
default_internal_group = {_group_name(self.gid)}
default_login_user = {self.user}
first_valid_uid = {min(self.uid, 500)}
mail_location = maildir:~/Maildir
mailbox_idle_check_interval = 1 secs
disable_plaintext_auth = no
auth_failure_delay = 1 secs
auth_mechanisms = {mechanisms}
auth_username_format = %Lu
ssl = yes
ssl_cert = <{self.cert_path}
ssl_key = <{self.key_path}
mail_plugin_dir = {lib / "modules"}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {self.users_dir}/%Lu
}}
{oauth}userdb {{
  driver = passwd-file
  args = {self.users_dir}/%Lu
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {self.tls_port}
    ssl = yes
  }}
}}
# Every test connects from loopback: Dovecot's per-IP penalty for failed logins would slow every later
# login of the session by up to 15 s; a closed penalty socket turns it off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
{services}"""
        )

    def start(self) -> None:
        if not _reachable_by(self.dir, self.uid):
            raise RuntimeError(
                f"Dovecot's mail processes run as {self.user}, who cannot enter {self.dir}: "
                "give the IMAP server a folder every user can traverse (not pytest's tmp_path)"
            )
        tree = self._dovecot()
        self.port = self.port or free_port()
        self.tls_port = self.tls_port or free_port()
        self.lmtp_port = self.lmtp_port or free_port()
        if not self.cert_path.exists():
            make_self_signed(self.dir, stem="imap")
        for folder in (self.mail, self.base_dir, self.users_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.mail, self.uid, self.gid)
            os.chown(self.users_dir, self.uid, self.gid)
        # Dovecot loads its plugins from "./dovecot-modules" (see build-imap.sh), relative to base_dir.
        link = self.base_dir / "dovecot-modules"
        link.unlink(missing_ok=True)
        link.symlink_to(tree / "usr/lib/dovecot/modules")
        self._write_config(tree)
        lib = tree / "usr/lib/dovecot"
        libs = [lib, tree / "usr/lib/x86_64-linux-gnu", lib / "modules"]
        env = {"LD_LIBRARY_PATH": ":".join(str(p) for p in libs)}
        # doveconf reads the config and execs the master with it in the environment, so the master
        # never looks for /usr/bin/doveconf.
        doveconf = [str(tree / "usr/bin/doveconf"), "-c", str(self.config), "-m", "master", "-p", "-e"]
        proc = self.spawn([*doveconf, str(tree / "usr/sbin/dovecot"), "-F", "-c", str(self.config)], env=env)
        wait_until(
            lambda: proc.poll() is None and _greets(self.host, self.port, b"* OK") and self._lmtp_greets(),
            timeout=30,
            what=f"Dovecot IMAP on port {self.port}",
            log=self.log_path,
        )

    def _lmtp_greets(self) -> bool:
        return _greets(self.host, self.lmtp_port, b"220")

    def restart(self) -> None:
        """Stop and start on the same ports with the same users and mail."""
        self.stop()
        self.start()

    def client(self, username: str, password: str) -> imaplib.IMAP4:
        """A logged-in stdlib client on the plain port (for tests)."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            conn.login(username, password)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.logout()
            raise
        return conn


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def _greets(host: str, port: int, greeting: bytes) -> bool:
    with socket.create_connection((host, port), timeout=2) as conn:
        return conn.recv(64).startswith(greeting)
