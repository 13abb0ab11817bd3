"""Tests of the usage app."""
