"""The Mailbox's own decisions (plan.py); its status is written by the pool controller or, unselected, by
the Mailbox event handler (pot_operator.watch)."""
