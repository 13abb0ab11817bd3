"""REST API of the webhooks_app app."""
