"""Tests of the webhooks_app app."""
