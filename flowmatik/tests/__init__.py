"""Tests of the cross-cutting project pieces."""
