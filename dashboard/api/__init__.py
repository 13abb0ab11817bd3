"""REST API of the dashboard app."""
