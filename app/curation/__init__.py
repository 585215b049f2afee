"""Administrators fix covers: pins, uploads, candidates, the audit trail."""
