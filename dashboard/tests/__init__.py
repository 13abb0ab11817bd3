"""Tests of the dashboard app."""
