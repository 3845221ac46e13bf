"""Annotation names on the pot.dev kinds that more than one program reads or writes (operator, potctl)."""

from __future__ import annotations

# Stamped on a MailboxPool (RFC 3339 time) by `potctl resume pool`; the operator takes a stamp at or
# after an automatic pause as a person's go-ahead to end it (needed when the pool resumes manually).
RESUME_ANNOTATION = "pot.dev/resume-requested-at"
