"""pytest fixtures for the local services (Postgres, Redis, OpenBao, SMTP sink, DNS)."""
