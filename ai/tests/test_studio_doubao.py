"""Doubao (Volcengine Ark) media shapes: OpenAI-style images, task-based video.

A fake Ark speaks the API's real HTTP protocol; the files it points to are served
by the demo model's file route, so the studio's downloads run for real.
"""

import itertools
import uuid

import pytest

from ai.demo import render
from ai.models import AIModel
from ai.selectors import catalogue_invalidate
from ai.tasks import job_run_task, job_video_poll_task
from billing.tests.factories import subscription_row
from flowmatik.testing.fake_http import FakeServer, Reply

pytestmark = pytest.mark.usefixtures("catalogue")

ARK_KEY = "ark-test-key"


class FakeArk(FakeServer):
    """`/images/generations` (OpenAI-shaped) and `/contents/generations/tasks`."""

    def __init__(self, demo) -> None:
        super().__init__()
        self.demo = demo
        self.tasks: dict[str, dict] = {}
        self.ids = itertools.count(1)
        self.route("POST", r"/api/v3/images/generations", self.images)
        self.route("POST", r"/api/v3/contents/generations/tasks", self.submit)
        self.route(
            "GET", r"/api/v3/contents/generations/tasks/(?P<task>[^/]+)", self.get
        )

    def authenticate(self, headers):
        if headers.get("authorization") != f"Bearer {ARK_KEY}":
            raise Reply(401, {"error": {"code": "AuthenticationError", "message": "x"}})

    def _file(self, data: bytes, content_type: str) -> str:
        file_id = uuid.uuid4().hex
        self.demo.state.files[file_id] = (data, content_type)
        return f"{self.demo.url}/files/{file_id}"

    def images(self, record):
        size = record.body["size"]
        url = self._file(
            render.render_png(record.body["prompt"], size=size), "image/png"
        )
        return 200, {
            "created": 1,
            "data": [{"url": url}],
            "usage": {"generated_images": 1},
        }

    def submit(self, record):
        task = f"cgt-{next(self.ids)}"
        self.tasks[task] = {"polls": 0, "text": record.body["content"][0]["text"]}
        return 200, {"id": task}

    def get(self, record, task):
        state = self.tasks[task]
        state["polls"] += 1
        if state["polls"] < 2:
            return 200, {"id": task, "status": "running"}
        url = self._file(render.render_avi(state["text"], size="64x36"), "video/mp4")
        return 200, {"id": task, "status": "succeeded", "content": {"video_url": url}}


@pytest.fixture
def ark(settings, ai_demo):
    fake = FakeArk(ai_demo).start()
    settings.DOUBAO_API_KEY = ARK_KEY
    settings.DOUBAO_BASE_URL = f"{fake.url}/api/v3"
    common = {"provider": "doubao", "min_plan": "starter", "currency": "CNY"}
    AIModel.objects.create(
        model_id="doubao-seedream-3-0-t2i-250415",
        display_name="Seedream 3.0",
        modality="image",
        price_unit="image",
        input_price="0.259",
        media_sizes=["1024x1024", "864x1152"],
        **common,
    )
    AIModel.objects.create(
        model_id="doubao-seedance-1-0-pro-250528",
        display_name="Seedance 1.0 Pro",
        modality="video",
        price_unit="video",
        input_price="3.67",
        media_sizes=["1280x720", "720x1280"],
        **common,
    )
    catalogue_invalidate()
    yield fake
    fake.stop()


def _create(client, body):
    response = client.post("/api/ai/generate-content", body, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_an_ark_image_is_asked_in_openai_shape_and_stored(ark, auth_client, user):
    subscription_row(user=user, plan="pro")
    job_id = _create(
        auth_client,
        {"type": "image", "prompt": "A lantern", "options": {"size": "864x1152"}},
    )
    assert job_run_task(job_id) == "succeeded"
    sent = ark.last("POST", "/api/v3/images/generations").body
    assert sent["model"] == "doubao-seedream-3-0-t2i-250415"
    assert sent["size"] == "864x1152"
    assert sent["response_format"] == "url"
    assert sent["watermark"] is False
    assert "image_size" not in sent
    job = auth_client.get(f"/api/ai/jobs/{job_id}").json()
    assert job["cost"] == "0.259000"
    assert job["currency"] == "CNY"
    assert job["assets"][0]["content_type"] == "image/png"


def test_an_ark_video_is_a_task_polled_until_it_succeeds(
    ark, auth_client, user, monkeypatch
):
    subscription_row(user=user, plan="pro")
    monkeypatch.setattr(job_video_poll_task, "apply_async", lambda **kw: None)
    job_id = _create(
        auth_client,
        {"type": "video", "prompt": "Waves", "options": {"size": "720x1280"}},
    )
    assert job_run_task(job_id) == "running"
    text = ark.last("POST", "/api/v3/contents/generations/tasks").body["content"][0]
    assert text == {"type": "text", "text": "Waves --ratio 9:16 --duration 5"}
    assert job_video_poll_task(job_id, 0) == "running"
    assert job_video_poll_task(job_id, 1) == "succeeded"
    assert len(ark.calls("GET", "/api/v3/contents/generations/tasks/cgt-1")) == 2
    job = auth_client.get(f"/api/ai/jobs/{job_id}").json()
    assert job["assets"][0]["content_type"] == "video/mp4"
    assert job["cost"] == "3.670000"
