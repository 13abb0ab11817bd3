"""AI gateway: providers, models, chat, conversations, context."""
