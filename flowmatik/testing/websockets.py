"""WebSocket test clients on the in-process ASGI application (no server)."""

from channels.testing import WebsocketCommunicator

ORIGIN_HEADERS = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


def communicator(
    path: str, *, token: str | None = None, via: str = "subprotocol", application=None
) -> WebsocketCommunicator:
    """A communicator for `path`, with `token` in the subprotocol pair or `?token=`."""
    from flowmatik.asgi import application as default_application

    subprotocols = None
    if token and via == "subprotocol":
        subprotocols = ["bearer", token]
    elif token:
        path = f"{path}?token={token}"
    return WebsocketCommunicator(
        application or default_application,
        path,
        headers=ORIGIN_HEADERS,
        subprotocols=subprotocols,
    )
