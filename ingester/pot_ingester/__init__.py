"""The inbox ingester (`pot-ingester`): reads each mailbox's inbox over IMAP and turns bounces,
complaints and replies into delivery events, suppressions and campaign counts."""
