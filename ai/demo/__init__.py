"""The local demo model: a real OpenAI-compatible HTTP server we ship (no real LLM)."""
