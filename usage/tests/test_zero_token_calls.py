"""Calls that reserve no tokens (image, speech and video calls count requests only)."""

from usage.tests.conftest import admit, settle
from usage.types import CallStatus


def test_a_zero_token_call_counts_one_request_and_an_error_uncounts_it(user, backend):
    from usage import quota_redis
    from usage.selectors import quota_state_for_user

    ok = admit(user.pk, prompt=0, max_tokens=0, endpoint="studio.image")
    assert ok.tokens_reserved == 0
    failed = admit(user.pk, prompt=0, max_tokens=0, endpoint="studio.image")
    settle(ok, prompt=0, completion=0)
    settle(failed, status=CallStatus.ERROR, prompt=0, completion=0)
    state = quota_state_for_user(user_id=user.pk)
    assert (state.requests_used, state.tokens_used, state.tokens_reserved) == (1, 0, 0)
    if backend == "redis":
        assert quota_redis.enabled()  # no Redis error sent it to the fallback
