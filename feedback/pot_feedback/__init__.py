"""Feedback classification: what a message in a mailbox's inbox says about an earlier send (bounce, complaint, auto-reply, reply); used by the ingester and `potctl classify-message`."""
