"""Deliverability checks: DNS, SPF/DKIM/DMARC, DNSBL, MX, recipient address checking and the cached preflight gate; for the operator, potctl and the console."""
