"""Tables of the webhooks_app app."""
