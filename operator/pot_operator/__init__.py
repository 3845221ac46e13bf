"""The kopf operator: reconciles Mailbox, MailboxPool and Campaign (run as `pot-operator`)."""
