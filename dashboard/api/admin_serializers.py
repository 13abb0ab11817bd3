"""Input and output serializers of the staff API (`/api/admin/*`)."""

from rest_framework import serializers

from dashboard.selectors.users import SORTS


class AdminUserListInput(serializers.Serializer):
    search = serializers.CharField(required=False, max_length=254, allow_blank=True)
    role = serializers.ChoiceField(choices=["admin", "premium", "user"], required=False)
    plan = serializers.SlugField(required=False, max_length=32)
    provider = serializers.ChoiceField(
        choices=["stripe", "lemonsqueezy", "none"], required=False
    )
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    joined_from = serializers.DateTimeField(required=False)
    joined_to = serializers.DateTimeField(required=False)
    sort = serializers.ChoiceField(
        choices=sorted(SORTS), required=False, default="-joined"
    )


class AdminUsageTodaySerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class AdminUserRowOutput(serializers.Serializer):
    id = serializers.IntegerField(source="user.pk")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.ChoiceField(choices=["admin", "premium", "user"])
    plan = serializers.CharField(source="user.plan_slug")
    provider = serializers.CharField(
        source="user.provider", help_text="Provider of the live subscription, or ''."
    )
    is_active = serializers.BooleanField(source="user.is_active")
    date_joined = serializers.DateTimeField(source="user.date_joined")
    last_login = serializers.DateTimeField(source="user.last_login", allow_null=True)
    usage_today = AdminUsageTodaySerializer()
    cost_this_month = serializers.DictField(
        child=serializers.DecimalField(max_digits=16, decimal_places=6),
        help_text="AI cost per currency.",
    )


class AdminSubscriptionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.CharField(source="plan.slug")
    provider = serializers.CharField()
    status = serializers.CharField()
    external_id = serializers.CharField()
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class AdminQuotaOverrideOutput(serializers.Serializer):
    requests_per_day = serializers.IntegerField(allow_null=True)
    tokens_per_day = serializers.IntegerField(allow_null=True)
    unlimited = serializers.BooleanField()
    boost_requests = serializers.IntegerField()
    boost_tokens = serializers.IntegerField()
    boost_until = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    updated_at = serializers.DateTimeField()


class AdminApiKeyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class AdminUsageRecordOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    endpoint = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.CharField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    currency = serializers.CharField()
    latency_ms = serializers.IntegerField()
    request_id = serializers.CharField()
    error_code = serializers.CharField()


class AdminJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class AdminUsageTotalsOutput(serializers.Serializer):
    currency = serializers.CharField()
    requests = serializers.IntegerField()
    failed_requests = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=6)


class AdminUserDetailOutput(serializers.Serializer):
    id = serializers.IntegerField(source="user.pk")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    company = serializers.CharField(source="user.company")
    role = serializers.ChoiceField(choices=["admin", "premium", "user"])
    plan = serializers.CharField(source="plan.slug")
    is_active = serializers.BooleanField(source="user.is_active")
    date_joined = serializers.DateTimeField(source="user.date_joined")
    last_login = serializers.DateTimeField(source="user.last_login", allow_null=True)
    subscription = AdminSubscriptionOutput(allow_null=True)
    quota = serializers.DictField(help_text="Today's limits and use (null = none).")
    quota_override = AdminQuotaOverrideOutput(allow_null=True)
    usage_this_month = AdminUsageTotalsOutput(many=True)
    api_keys = AdminApiKeyOutput(many=True)
    recent_requests = AdminUsageRecordOutput(many=True)
    jobs = AdminJobOutput(many=True)


class QuotaOverrideInput(serializers.Serializer):
    requests_per_day = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, allow_null=True, required=False
    )
    tokens_per_day = serializers.IntegerField(
        min_value=0, max_value=2**62, allow_null=True, required=False
    )
    unlimited = serializers.BooleanField(required=False, default=False)
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=255, default=""
    )


class BoostInput(serializers.Serializer):
    requests = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    tokens = serializers.IntegerField(min_value=0, max_value=2**62, default=0)
    until = serializers.DateTimeField()
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=255, default=""
    )

    def validate(self, attrs):
        if not attrs["requests"] and not attrs["tokens"]:
            raise serializers.ValidationError("Boost `requests` or `tokens`.")
        return attrs


class AdminUserUpdateInput(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=["admin", "user"],
        required=False,
        help_text="`premium` is not set here: it comes from billing.",
    )
    is_active = serializers.BooleanField(
        required=False,
        help_text="false: signed out everywhere, API keys revoked, at once.",
    )
    quota_override = QuotaOverrideInput(
        required=False,
        allow_null=True,
        help_text="Raised/lowered daily limits; null removes the override.",
    )
    boost = BoostInput(required=False, help_text="A temporary boost until `until`.")

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Send at least one of role, is_active, quota_override, boost."
            )
        return attrs


# --- dashboard KPIs ---


class _UsersKpis(serializers.Serializer):
    total = serializers.IntegerField()
    active = serializers.IntegerField(help_text="Accounts not deactivated.")
    new_today = serializers.IntegerField()
    new_7d = serializers.IntegerField()
    new_30d = serializers.IntegerField()
    active_today = serializers.IntegerField(
        help_text="Logged in or made an AI call today (UTC)."
    )


class _SubscriptionKpis(serializers.Serializer):
    by_plan = serializers.DictField(child=serializers.IntegerField())
    by_provider = serializers.DictField(child=serializers.IntegerField())


class _ProviderRevenue(serializers.Serializer):
    provider = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    payments = serializers.IntegerField()


class _RevenueKpis(serializers.Serializer):
    mrr = serializers.DictField(
        child=serializers.DecimalField(max_digits=14, decimal_places=2),
        help_text="Per currency.",
    )
    today = serializers.DictField(
        child=serializers.DecimalField(max_digits=14, decimal_places=2)
    )
    this_month = serializers.DictField(
        child=serializers.DecimalField(max_digits=14, decimal_places=2)
    )
    this_month_by_provider = _ProviderRevenue(many=True)


class _AiDay(serializers.Serializer):
    day = serializers.DateField()
    requests = serializers.IntegerField()
    failed_requests = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DictField(
        child=serializers.DecimalField(max_digits=16, decimal_places=6)
    )


class _AiToday(_AiDay):
    error_rate = serializers.FloatField(help_text="Failed / all AI calls today.")


class _TopUser(serializers.Serializer):
    user_id = serializers.IntegerField()
    email = serializers.EmailField()
    requests = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    currency = serializers.CharField()


class _AiKpis(serializers.Serializer):
    today = _AiToday()
    series_30d = _AiDay(many=True)
    top_users_this_month = _TopUser(many=True)


class _HttpKpis(serializers.Serializer):
    requests = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()
    error_rate = serializers.FloatField()


class AdminDashboardOutput(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    users = _UsersKpis()
    subscriptions = _SubscriptionKpis()
    revenue = _RevenueKpis()
    ai = _AiKpis()
    http_24h = _HttpKpis()
    webhook_failures_24h = serializers.IntegerField()
    jobs_by_status = serializers.DictField(child=serializers.IntegerField())


# --- metrics and health ---


class AdminMetricsInput(serializers.Serializer):
    window = serializers.ChoiceField(choices=["5m", "1h", "24h"], default="5m")


class _EndpointMetrics(serializers.Serializer):
    route = serializers.CharField(help_text="URL pattern, e.g. `api/ai/chat`.")
    requests = serializers.IntegerField()
    errors_4xx = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()
    avg_ms = serializers.FloatField(allow_null=True)


class _RequestMetrics(serializers.Serializer):
    count = serializers.IntegerField()
    per_second = serializers.FloatField()
    avg_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(
        allow_null=True, help_text="Histogram estimate (linear in the bucket)."
    )
    errors_4xx = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()
    error_rate = serializers.FloatField(help_text="5xx / requests.")
    endpoints = _EndpointMetrics(many=True)


class _UserCost(serializers.Serializer):
    user_id = serializers.IntegerField()
    currency = serializers.CharField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=6)


class _AiMetrics(serializers.Serializer):
    calls = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.DictField(
        child=serializers.DecimalField(max_digits=16, decimal_places=6)
    )
    cost_per_user = _UserCost(many=True)


class _ProcessMetrics(serializers.Serializer):
    role = serializers.CharField(help_text="web | worker | beat")
    host = serializers.CharField()
    pid = serializers.IntegerField()
    cpu_percent = serializers.FloatField()
    rss_bytes = serializers.IntegerField()
    threads = serializers.IntegerField()


class AdminMetricsOutput(serializers.Serializer):
    window = serializers.CharField()
    seconds = serializers.IntegerField()
    requests = _RequestMetrics()
    ai = _AiMetrics()
    quota_refusals = serializers.DictField(child=serializers.IntegerField())
    webhooks = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField())
    )
    jobs = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField())
    )
    websockets = serializers.DictField(
        help_text="Open sockets (total, per process), dropped and failed pushes."
    )
    processes = _ProcessMetrics(many=True)
    celery_queue_depth = serializers.DictField(
        child=serializers.IntegerField(allow_null=True)
    )
    revenue = serializers.DictField(
        child=serializers.DecimalField(max_digits=14, decimal_places=2),
        help_text="Paid inside the window, per currency.",
    )


class AdminHealthOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
    failing = serializers.ListField(child=serializers.CharField())
    checked_at = serializers.DateTimeField()
    components = serializers.DictField(
        child=serializers.DictField(),
        help_text="database, cache, redis, broker, channel_layer, celery_workers, "
        "beat, disk: each with `status` (ok|fail|not_configured) and `latency_ms`.",
    )
    ai_providers = serializers.DictField(child=serializers.DictField())
    payment_providers = serializers.DictField(child=serializers.DictField())


# --- notifications (announcements) ---


class AnnouncementInput(serializers.Serializer):
    audience = serializers.ChoiceField(choices=["user", "plan", "all"])
    user_id = serializers.IntegerField(required=False, min_value=1)
    plan = serializers.SlugField(required=False, max_length=32)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    level = serializers.ChoiceField(
        choices=["info", "warning", "critical"], default="info"
    )
    email = serializers.BooleanField(
        default=False, help_text="Also e-mail every recipient."
    )

    def validate(self, attrs):
        if attrs["audience"] == "user" and not attrs.get("user_id"):
            raise serializers.ValidationError({"user_id": ["Required for `user`."]})
        if attrs["audience"] == "plan" and not attrs.get("plan"):
            raise serializers.ValidationError({"plan": ["Required for `plan`."]})
        return attrs


class AnnouncementOutput(serializers.Serializer):
    id = serializers.IntegerField()
    audience = serializers.CharField()
    user_id = serializers.IntegerField(source="target_user_id", allow_null=True)
    plan = serializers.CharField(source="plan_slug")
    title = serializers.CharField()
    body = serializers.CharField()
    level = serializers.CharField()
    email = serializers.BooleanField()
    emailed_at = serializers.DateTimeField(allow_null=True)
    recipients = serializers.IntegerField(help_text="Users it reached when sent.")
    sent_by = serializers.EmailField(source="sent_by.email", allow_null=True)
    created_at = serializers.DateTimeField()


# --- logs ---


class LogListInput(serializers.Serializer):
    level = serializers.ChoiceField(
        choices=["debug", "info", "warning", "error", "critical"],
        required=False,
        help_text="This level and more severe ones.",
    )
    service = serializers.CharField(required=False, max_length=100)
    user_id = serializers.CharField(required=False, max_length=64)
    request_id = serializers.CharField(required=False, max_length=128)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    q = serializers.CharField(
        required=False, max_length=200, allow_blank=True, help_text="Text in message."
    )


class LogRecordOutput(serializers.Serializer):
    id = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    level = serializers.CharField()
    service = serializers.CharField()
    message = serializers.CharField()
    user_id = serializers.CharField()
    request_id = serializers.CharField()
    data = serializers.DictField(help_text="The record's other JSON fields.")
