"""The email address checker: `EmailChecker`, its settings, results and bulk I/O; for potctl, the console.

checker.py decides (syntax, MX, mode), scheduler.py keeps the probes polite and busy, probe.py talks
SMTP, pacing.py holds the politeness rules, portcheck.py answers auto mode's port question, flags.py
says what an address is (free, role, disposable, a typo), lists.py reads address lists and keeps the
resume file, model.py holds the shared types.
"""

from pot_deliverability.emailcheck.checker import EmailChecker
from pot_deliverability.emailcheck.lists import ADDRESS_COLUMNS, MAX_LINE, BadRow, ResumeState, read_rows
from pot_deliverability.emailcheck.model import CheckerSettings, EmailResult, Mode, Verdict

__all__ = [
    "ADDRESS_COLUMNS",
    "MAX_LINE",
    "BadRow",
    "CheckerSettings",
    "EmailChecker",
    "EmailResult",
    "Mode",
    "ResumeState",
    "Verdict",
    "read_rows",
]
