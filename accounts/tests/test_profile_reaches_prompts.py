"""A profile edit reaches the AI prompts at once (no stale cached profile note)."""

import httpx
import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import jwt_for

pytestmark = pytest.mark.usefixtures("catalogue_tx", "ai_demo")


def _system_prompt_of_last_call(demo_server) -> str:
    messages = demo_server.chat_calls()[-1]["body"]["messages"]
    return " ".join(m["content"] for m in messages if m["role"] == "system")


def test_a_new_brand_voice_reaches_the_very_next_prompt(live_asgi, demo_server):
    user = UserFactory(brand_voice="Playful and short.")
    with httpx.Client(
        base_url=live_asgi.http_url,
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=10,
    ) as client:
        assert client.post("/api/ai/chat", json={"message": "Hi"}).status_code == 200
        assert "Playful and short." in _system_prompt_of_last_call(demo_server)

        patched = client.patch(
            "/api/auth/profile", json={"brand_voice": "Formal and precise."}
        )
        assert patched.status_code == 200, patched.text
        assert client.post("/api/ai/chat", json={"message": "Hi"}).status_code == 200

    prompt = _system_prompt_of_last_call(demo_server)
    assert "Formal and precise." in prompt
    assert "Playful and short." not in prompt
