"""The `/v1` media endpoints (images, speech, model lookup) through the `openai` SDK."""

import base64
import io
import wave
from decimal import Decimal

import openai
import pytest
from PIL import Image

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import api_key_for

pytestmark = pytest.mark.usefixtures("catalogue_tx")


def _sdk(live_asgi, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{live_asgi}/v1", api_key=key, max_retries=0, timeout=10
    )


def _records(user, endpoint):
    from usage.models import UsageRecord
    from usage.services import usage_events_drain

    usage_events_drain()
    return list(UsageRecord.objects.filter(user=user, endpoint=endpoint))


@pytest.fixture
def pro_user(transactional_db):
    return UserFactory()


def test_images_as_urls_and_as_base64_are_metered_per_image(live_asgi, pro_user):
    sdk = _sdk(live_asgi, api_key_for(pro_user, plan="starter"))
    made = sdk.images.generate(
        model="flowmatik-demo-image", prompt="A red fox", n=2, size="768x512"
    )
    assert len(made.data) == 2
    assert made.data[0].url.startswith("http")
    inline = sdk.images.generate(
        model="flowmatik-demo-image", prompt="A red fox", response_format="b64_json"
    )
    png = base64.b64decode(inline.data[0].b64_json)
    assert Image.open(io.BytesIO(png)).size == (512, 512)
    records = _records(pro_user, "openai.images")
    assert sorted(r.cost for r in records) == [Decimal("0.01"), Decimal("0.02")]
    assert all(r.status == "success" and r.api_key_id for r in records)


def test_an_image_size_the_model_lacks_is_a_400_the_sdk_raises(live_asgi, pro_user):
    sdk = _sdk(live_asgi, api_key_for(pro_user, plan="starter"))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="flowmatik-demo-image", prompt="x", size="333x333")
    assert caught.value.code == "invalid_input"


def test_speech_returns_audio_and_is_metered_per_byte(live_asgi, pro_user):
    sdk = _sdk(live_asgi, api_key_for(pro_user, plan="pro"))
    speech = sdk.audio.speech.create(
        model="flowmatik-demo-tts",
        voice="alex",
        input="Hola, bienvenidos",
        response_format="wav",
    )
    audio = speech.read()
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getnframes() > 0
    [record] = _records(pro_user, "openai.speech")
    assert record.cost == Decimal("0.000017")  # 17 UTF-8 bytes at 1 USD per 1M


@pytest.mark.parametrize(
    ("feature", "call"),
    [
        (
            "images",
            lambda sdk: sdk.images.generate(model="flowmatik-demo-image", prompt="x"),
        ),
        (
            "audio",
            lambda sdk: sdk.audio.speech.create(
                model="flowmatik-demo-tts", voice="alex", input="hi"
            ),
        ),
    ],
)
def test_plan_gates_refuse_before_any_provider_call(
    live_asgi, pro_user, ai_demo, feature, call
):
    from billing.models import Plan
    from billing.selectors import plan_cache_invalidate

    key = api_key_for(pro_user, plan="pro")
    plan = Plan.objects.get(slug="pro")
    plan.features = [f for f in plan.features if f != feature]
    plan.save(update_fields=["features"])
    plan_cache_invalidate(user_id=pro_user.pk)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        call(_sdk(live_asgi, key))
    assert caught.value.code == "plan_feature_required"
    assert ai_demo.state.log == []
    assert _records(pro_user, "openai.images") == []


def test_a_provider_failure_is_a_502_and_charges_nothing(live_asgi, pro_user):
    sdk = _sdk(live_asgi, api_key_for(pro_user, plan="starter"))
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.images.generate(model="flowmatik-demo-image", prompt="x [[fault:500]]")
    assert caught.value.status_code == 502
    assert [r.status for r in _records(pro_user, "openai.images")] == ["error"]


def test_models_retrieve_answers_the_plans_models_only(live_asgi, pro_user):
    sdk = _sdk(live_asgi, api_key_for(pro_user, plan="starter"))
    model = sdk.models.retrieve("flowmatik-demo-image")
    assert (model.id, model.object, model.owned_by) == (
        "flowmatik-demo-image",
        "model",
        "demo",
    )
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("flowmatik-demo-video")  # a Pro model
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no/such-model")
