"""Tables of the ai app."""
