"""Feedback classification: what a message in a mailbox's inbox says about an earlier send.

Bounce, complaint, auto-reply or reply; used by the ingester and `potctl classify-message`.
"""
