"""POST /api/ai/generate-content: every type's options, gates, models and agents."""

import pytest

from ai.models import ContentJob
from billing.tests.factories import subscription_row

pytestmark = pytest.mark.usefixtures("catalogue")

URL = "/api/ai/generate-content"


def _pro(user):
    from billing.selectors import plan_cache_invalidate

    subscription_row(user=user, plan="pro")
    plan_cache_invalidate(user_id=user.pk)


def _post(client, body):
    return client.post(URL, body, format="json")


def _fields(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    return error["details"]["fields"]


VALID = [
    ("blog_post", {"title": "T", "outline": ["a", "b"], "length": "long",
                   "tone": "bold", "language": "es", "audience": "devs",
                   "keywords": ["ai"]}),
    ("social_post", {"network": "linkedin", "count": 3, "hashtags": False}),
    ("email", {"purpose": "welcome", "subject": "Hi"}),
    ("ad_copy", {"platform": "google", "variants": 2}),
    ("product_description", {"product_name": "Mug", "features": ["blue"]}),
    ("video_script", {"duration": 90, "scenes": 5}),
    ("seo_meta", {"keywords": ["coffee"], "url": "https://example.com/x"}),
    ("image", {"size": "512x768", "count": 4, "negative_prompt": "blur", "seed": 7}),
    ("audio", {"voice": "flowmatik-demo-tts:alex", "format": "wav", "speed": 1.5}),
    ("video", {"size": "320x180", "duration": 5}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "options"), VALID)
def test_each_type_accepts_its_options_and_answers_202_with_the_job(
    auth_client, user, kind, options
):
    _pro(user)
    response = _post(
        auth_client, {"type": kind, "prompt": "Our coffee", "options": options}
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["type"] == kind
    assert body["status"] == "queued"
    assert body["progress"] == 0
    assert body["created_at"]
    job = ContentJob.objects.get(pk=body["id"], user=user)
    for name, value in options.items():
        assert job.options[name] == value


INVALID = [
    ("blog_post", {"length": "huge"}, "length"),
    ("blog_post", {"outline": "not a list"}, "outline"),
    ("blog_post", {"language": "fr"}, "language"),
    ("social_post", {}, "network"),
    ("social_post", {"network": "myspace"}, "network"),
    ("social_post", {"network": "x", "count": 9}, "count"),
    ("email", {"purpose": "spam"}, "purpose"),
    ("ad_copy", {"platform": "google", "variants": 0}, "variants"),
    ("product_description", {"features": ["x"] * 21}, "features"),
    ("video_script", {"duration": 2}, "duration"),
    ("video_script", {"scenes": 31}, "scenes"),
    ("seo_meta", {"url": "not a url"}, "url"),
    ("seo_meta", {"tone": "bold"}, "tone"),
    ("image", {"count": 5}, "count"),
    ("image", {"size": "big"}, "size"),
    ("image", {"seed": -1}, "seed"),
    ("audio", {"format": "flac"}, "format"),
    ("audio", {"speed": 9}, "speed"),
    ("audio", {"voice": "bad voice!"}, "voice"),
    ("video", {"duration": 60}, "duration"),
]


@pytest.mark.parametrize(("kind", "options", "field"), INVALID)
def test_bad_options_are_400_with_the_option_named(
    auth_client, user, kind, options, field
):
    _pro(user)
    response = _post(auth_client, {"type": kind, "prompt": "p", "options": options})
    assert field in _fields(response)["options"]
    assert not ContentJob.objects.exists()


def test_unknown_type_missing_prompt_and_non_object_options_are_400(auth_client):
    assert "type" in _fields(_post(auth_client, {"type": "novel", "prompt": "p"}))
    assert "prompt" in _fields(_post(auth_client, {"type": "email", "prompt": "  "}))
    fields = _fields(
        _post(auth_client, {"type": "email", "prompt": "p", "options": []})
    )
    assert "options" in fields


def test_a_prompt_over_the_limit_is_400(auth_client, settings):
    settings.STUDIO_MAX_PROMPT_CHARS = 50
    assert "prompt" in _fields(
        _post(auth_client, {"type": "email", "prompt": "x" * 51})
    )


def test_speech_text_over_its_own_limit_is_400(auth_client, user, settings):
    _pro(user)
    settings.STUDIO_TTS_MAX_CHARS = 10
    fields = _fields(_post(auth_client, {"type": "audio", "prompt": "x" * 11}))
    assert "prompt" in fields


def test_a_size_the_model_does_not_offer_is_400(auth_client, user):
    _pro(user)
    response = _post(
        auth_client, {"type": "image", "prompt": "p", "options": {"size": "333x333"}}
    )
    assert "size" in _fields(response)["options"]
    response = _post(
        auth_client, {"type": "video", "prompt": "p", "options": {"size": "1280x720"}}
    )
    assert "size" in _fields(response)["options"]


def test_media_jobs_default_to_the_models_first_size(auth_client, user):
    _pro(user)
    body = _post(auth_client, {"type": "image", "prompt": "p"}).json()
    assert body["options"]["size"] == "512x512"
    assert body["model"] == "flowmatik-demo-image"


@pytest.mark.parametrize(
    ("kind", "plan", "feature"),
    [
        ("image", None, "images"),
        ("audio", "starter", "audio"),
        ("video", "starter", "video"),
    ],
)
def test_plan_gates_refuse_with_403_before_any_provider_call(
    auth_client, user, ai_demo, kind, plan, feature
):
    if plan:
        from billing.selectors import plan_cache_invalidate

        subscription_row(user=user, plan=plan)
        plan_cache_invalidate(user_id=user.pk)
    response = _post(auth_client, {"type": kind, "prompt": "p"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "plan_feature_required"
    assert error["details"]["feature"] == feature
    assert not ContentJob.objects.exists()
    assert ai_demo.state.log == []


def test_starter_may_make_images(auth_client, user):
    from billing.selectors import plan_cache_invalidate

    subscription_row(user=user, plan="starter")
    plan_cache_invalidate(user_id=user.pk)
    assert _post(auth_client, {"type": "image", "prompt": "p"}).status_code == 202


def test_unknown_model_and_model_of_another_modality_are_400(auth_client, user):
    _pro(user)
    response = _post(auth_client, {"type": "email", "prompt": "p", "model": "nope"})
    assert response.json()["error"]["code"] == "unknown_model"
    response = _post(
        auth_client, {"type": "image", "prompt": "p", "model": "flowmatik-demo"}
    )
    assert response.json()["error"]["code"] == "unknown_model"


def test_a_model_above_the_plan_is_403(auth_client):
    response = _post(
        auth_client, {"type": "email", "prompt": "p", "model": "flowmatik-demo-pro"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"


def test_an_unknown_agent_is_400_and_an_existing_one_is_kept(auth_client, user):
    response = _post(auth_client, {"type": "email", "prompt": "p", "agent": "ghost"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_agent"
    response = _post(
        auth_client, {"type": "email", "prompt": "p", "agent": "copywriter"}
    )
    assert response.status_code == 202
    assert response.json()["agent"] == "copywriter"
    # an agent above the plan is refused like any plan feature
    response = _post(
        auth_client, {"type": "seo_meta", "prompt": "p", "agent": "seo-specialist"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_feature_required"


def test_media_jobs_take_no_agent(auth_client, user):
    _pro(user)
    response = _post(
        auth_client, {"type": "image", "prompt": "p", "agent": "copywriter"}
    )
    assert "agent" in _fields(response)


def test_language_defaults_to_the_users_language(auth_client, user):
    user.language = "es"
    user.save(update_fields=["language"])
    body = _post(auth_client, {"type": "blog_post", "prompt": "p"}).json()
    assert body["language"] == "es"
    body = _post(
        auth_client,
        {"type": "blog_post", "prompt": "p", "options": {"language": "en"}},
    ).json()
    assert body["language"] == "en"


def test_anonymous_callers_are_401(api_client):
    assert _post(api_client, {"type": "email", "prompt": "p"}).status_code == 401


def test_the_schema_documents_generate_content_and_every_options_shape(auth_client):
    schema = auth_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/ai/generate-content"]["post"]
    assert "202" in operation["responses"]
    names = set(schema["components"]["schemas"])
    for name in ("SocialPost", "Image", "Audio", "Video", "SeoMeta", "BlogPost"):
        assert f"{name}OptionsRequest" in names
    social = schema["components"]["schemas"]["SocialPostOptionsRequest"]
    assert "network" in social["required"]
    for path in (
        "/api/ai/jobs",
        "/api/ai/jobs/{job_id}",
        "/api/ai/jobs/{job_id}/cancel",
        "/api/ai/jobs/{job_id}/events",
        "/api/ai/assets/{asset_id}/content",
    ):
        assert path in schema["paths"]


def test_the_model_list_says_which_sizes_media_models_take(auth_client, user):
    _pro(user)
    models = {m["id"]: m for m in auth_client.get("/api/ai/models").json()}
    assert models["flowmatik-demo-video"]["media_sizes"][0] == "320x180"
    assert models["flowmatik-demo-image"]["price_unit"] == "image"
    assert models["flowmatik-demo"]["media_sizes"] == []


def test_too_many_active_jobs_are_429_until_one_finishes(auth_client, settings):
    settings.STUDIO_MAX_ACTIVE_JOBS = 2
    first = _post(auth_client, {"type": "email", "prompt": "a"}).json()["id"]
    _post(auth_client, {"type": "email", "prompt": "b"})
    response = _post(auth_client, {"type": "email", "prompt": "c"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_jobs"
    assert response["Retry-After"]
    assert auth_client.post(f"/api/ai/jobs/{first}/cancel").status_code == 200
    assert _post(auth_client, {"type": "email", "prompt": "c"}).status_code == 202
