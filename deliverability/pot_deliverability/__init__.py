"""Deliverability checks for the operator, potctl and the console.

DNS and the resolver factory (dns), SPF/DKIM/DMARC, DNSBL and MX records, preflight of a sending
domain, the cached preflight gate (gate) and the recipient address checker (emailcheck).
"""
