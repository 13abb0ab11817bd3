"""REST API of the ai app."""
