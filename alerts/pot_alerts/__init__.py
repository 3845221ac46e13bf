"""Telegram and Slack alerts (senders, dedup policy, routing) for the operator, potctl and a console."""
