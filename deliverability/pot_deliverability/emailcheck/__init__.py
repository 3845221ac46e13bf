"""The email address checker: `EmailChecker`, its settings, results and bulk I/O; for potctl, the console.

checker.py decides (syntax, MX, mode, retries), probe.py talks SMTP, pacing.py keeps the checker polite,
lists.py reads address lists and keeps the resume file, model.py holds the shared types.
"""

from pot_deliverability.emailcheck.checker import EmailChecker
from pot_deliverability.emailcheck.lists import ADDRESS_COLUMNS, BadRow, ResumeState, read_rows
from pot_deliverability.emailcheck.model import CheckerSettings, EmailResult, Mode, Verdict

__all__ = [
    "ADDRESS_COLUMNS",
    "BadRow",
    "CheckerSettings",
    "EmailChecker",
    "EmailResult",
    "Mode",
    "ResumeState",
    "Verdict",
    "read_rows",
]
