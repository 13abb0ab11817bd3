"""Notifications: stored per user (or broadcast), pushed live, fetched when missed."""
