"""Accounts: users, authentication, roles, API keys."""
