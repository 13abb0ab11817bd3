"""Test doubles for the far end of the payment providers (real HTTP on 127.0.0.1)."""
