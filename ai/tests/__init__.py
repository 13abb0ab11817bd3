"""Tests of the ai app."""
