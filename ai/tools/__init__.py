"""Tools agents may call: the platform's built-ins and external MCP servers' tools.

`builtin` holds what the platform does for the user (always in the caller's name:
the user id comes from our code, never from the model's arguments); `registry`
assembles an agent's tool set and runs one call with a timeout and a size limit.
"""
