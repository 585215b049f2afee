"""Administrators: accounts and sign-in (auth), their forms, pages and commands."""
