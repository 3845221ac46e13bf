"""Shared by the operator, the worker and potctl: typed config, the CRD types, the database schema."""
