"""Annotation and label names that more than one program reads or writes (operator, potctl)."""

from __future__ import annotations

# Stamped on a MailboxPool (RFC 3339 time) by `potctl resume pool`; the operator takes a stamp at or
# after an automatic pause as a person's go-ahead to end it (needed when the pool resumes manually).
RESUME_ANNOTATION = "pot.dev/resume-requested-at"

# The pool a thing belongs to: on the worker Deployments the operator makes, and on the Mailboxes
# `potctl mailboxes import` writes (the example pools select on it).
POOL_LABEL = "pot.dev/pool"
