"""REST API of the usage app."""
