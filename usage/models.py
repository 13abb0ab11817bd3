"""Tables of the usage app."""
