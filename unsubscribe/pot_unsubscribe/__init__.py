"""The one-click unsubscribe endpoint (`pot-unsubscribe`): RFC 8058 POSTs and a confirmation page,
verifying each recipient's token."""
