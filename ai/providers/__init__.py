"""Provider adapters: the only modules that import the `openai` SDK.

`registry` knows which providers are configured and keeps one `AsyncOpenAI` per
provider (per event loop); `chat` streams and completes chats with our retry, circuit
breaker and error mapping; `media` calls the image and speech endpoints.
"""
