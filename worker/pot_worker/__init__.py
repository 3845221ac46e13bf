"""The sender for one pool (run as `pot-worker`)."""
