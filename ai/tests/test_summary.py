"""Background summaries of long conversations (AI_SUMMARY_MODEL)."""

import pytest

from accounts.tests.factories import UserFactory
from ai import context as ctx
from ai.models import Conversation, Message
from ai.selectors import conversation_history
from ai.services import conversation_summarize
from usage.types import CallStatus


def _conversation(user, n: int) -> Conversation:
    conversation = Conversation.objects.create(user=user, title="Long", message_count=n)
    for i in range(n):
        Message.objects.create(
            conversation=conversation,
            role="user" if i % 2 == 0 else "assistant",
            content=f"m{i}",
        )
    return conversation


def test_summary_goes_before_the_history_only_when_it_fits():
    args = {
        "system_prompt": "S",
        "profile": "",
        "history": [{"role": "user", "content": "recent"}],
        "new_message": "NEW",
        "max_tokens": 10,
    }
    built = ctx.context_build(**args, context_window=1_000, summary="they met in Rome")
    assert built.messages[1]["content"].endswith("they met in Rome")
    assert built.messages[2]["content"] == "recent"
    exact = built.prompt_tokens + 10
    tight = ctx.context_build(
        **args, context_window=exact - 1, summary="they met in Rome"
    )
    assert all("Rome" not in m["content"] for m in tight.messages)


@pytest.mark.usefixtures("catalogue_tx")
def test_old_turns_are_folded_into_a_metered_summary_once(
    settings, demo_server, settle_spy
):
    settings.AI_SUMMARY_MODEL = "flowmatik-demo"
    settings.AI_SUMMARY_KEEP_MESSAGES = 20
    user = UserFactory()
    conversation = _conversation(user, 35)
    ids = list(conversation.messages.order_by("id").values_list("id", flat=True))

    assert conversation_summarize(conversation_id=conversation.pk) is True
    conversation.refresh_from_db()
    assert conversation.summary.startswith("[Local demo model")
    assert conversation.summary_upto_id == ids[14]  # 15 folded, 20 kept
    transcript = demo_server.chat_calls()[-1]["body"]["messages"][-1]["content"]
    assert transcript.startswith("user: m0")
    assert "m14" in transcript
    assert "m15" not in transcript
    assert [(e.endpoint, e.status) for e in settle_spy] == [
        ("chat.summary", CallStatus.SUCCESS)
    ]
    # Nothing new to fold: a second run (a redelivered task) changes nothing.
    assert conversation_summarize(conversation_id=conversation.pk) is False

    history = conversation_history(user_id=user.pk, conversation_id=conversation.pk)
    assert history.summary == conversation.summary
    assert [m["content"] for m in history.messages] == [f"m{i}" for i in range(15, 35)]


@pytest.mark.usefixtures("catalogue_tx")
def test_a_failing_summary_model_leaves_the_conversation_unchanged(
    settings, settle_spy
):
    settings.AI_SUMMARY_MODEL = "flowmatik-demo"
    settings.AI_SUMMARY_KEEP_MESSAGES = 2
    settings.AI_MAX_RETRIES = 0
    conversation = _conversation(UserFactory(), 4)
    Message.objects.filter(conversation=conversation, content="m0").update(
        content="[[fault:500]] m0"
    )
    assert conversation_summarize(conversation_id=conversation.pk) is False
    conversation.refresh_from_db()
    assert conversation.summary == ""
    assert conversation.summary_upto_id is None
    assert [e.status for e in settle_spy] == [CallStatus.ERROR]


def test_a_long_conversation_enqueues_its_summary_after_commit(
    catalogue, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from ai import services, tasks
    from ai.selectors import catalogue_get

    queued = []
    monkeypatch.setattr(tasks.conversation_summarize_task, "delay", queued.append)
    settings.AI_SUMMARY_MODEL = "flowmatik-demo"
    settings.AI_SUMMARY_KEEP_MESSAGES = 4
    user = UserFactory()
    conversation = _conversation(user, 12)
    model = catalogue_get().models["flowmatik-demo"]

    class Prepared:
        conversation_id = conversation.pk
        user_id = user.pk
        new_message = "more"
        request_id = "req_x"
        agent = None

    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_turn_save(
            prepared=Prepared,
            model=model,
            answer="ok",
            status="complete",
            prompt_tokens=1,
            completion_tokens=1,
        )
    assert queued == [conversation.pk]
    settings.AI_SUMMARY_MODEL = ""
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_turn_save(
            prepared=Prepared,
            model=model,
            answer="ok",
            status="complete",
            prompt_tokens=1,
            completion_tokens=1,
        )
    assert queued == [conversation.pk]


def test_saving_a_turn_decides_on_a_summary_without_counting_messages(
    catalogue, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ai import services, tasks
    from ai.selectors import catalogue_get

    queued = []
    monkeypatch.setattr(tasks.conversation_summarize_task, "delay", queued.append)
    settings.AI_SUMMARY_MODEL = "flowmatik-demo"
    settings.AI_SUMMARY_KEEP_MESSAGES = 4  # due at 14, 24, 34 ... messages
    user = UserFactory()
    conversation = _conversation(user, 10)
    model = catalogue_get().models["flowmatik-demo"]

    class Prepared:
        conversation_id = conversation.pk
        user_id = user.pk
        new_message = "more"
        request_id = "req_x"
        agent = None

    due_at = []
    for _ in range(12):  # 12 -> 34 messages
        before = len(queued)
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            services.conversation_turn_save(
                prepared=Prepared,
                model=model,
                answer="ok",
                status="complete",
                prompt_tokens=1,
                completion_tokens=1,
            )
        assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
        if len(queued) > before:
            conversation.refresh_from_db()
            due_at.append(conversation.message_count)
    assert due_at == [14, 24, 34]


@pytest.mark.usefixtures("catalogue_tx")
def test_the_operators_summary_model_serves_every_plan_through_the_chat_engine(
    settings, demo_server, settle_spy
):
    from ai.services import chat_complete_sync
    from ai.types import ChatRequest
    from flowmatik.errors import ApplicationError

    settings.AI_SUMMARY_MODEL = "flowmatik-demo-pro"  # a Pro model, a Free user
    settings.AI_SUMMARY_KEEP_MESSAGES = 2
    user = UserFactory()
    conversation = _conversation(user, 6)
    with pytest.raises(ApplicationError) as refused:
        chat_complete_sync(
            ChatRequest(
                user_id=user.pk,
                endpoint="chat",
                request_id="req_user",
                message="hi",
                model="flowmatik-demo-pro",
            )
        )
    assert refused.value.code == "model_not_allowed"

    assert conversation_summarize(conversation_id=conversation.pk) is True
    assert demo_server.chat_calls()[-1]["body"]["model"] == "flowmatik-demo-pro"
    assert [(e.endpoint, e.model) for e in settle_spy] == [
        ("chat.summary", "flowmatik-demo-pro")
    ]
