"""Telegram and Slack alerts: senders, the dedup/rate-limit policy and routing; for the operator, potctl and the console."""
