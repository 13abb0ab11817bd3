"""Flowmatik as an MCP server: the platform's tools, resources and prompts at /mcp.

`server` builds the `MCPServer` (tools, `flowmatik://` resources, prompts), `auth`
checks the caller's API key, `asgi` mounts it in the one ASGI app.
"""
