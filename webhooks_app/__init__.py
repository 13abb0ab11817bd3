"""Payment webhooks: verify, store once, process in the background."""
