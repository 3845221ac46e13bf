"""Deliverability checks (DNS preflight, SPF, DKIM, DMARC, DNSBL, email checker, alerts); operator, potctl."""
