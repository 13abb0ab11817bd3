"""Webhook endpoints: two raw receivers (plain Django underneath) and staff views."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from flowmatik.errors import ApplicationError, error_response
from webhooks_app.api.serializers import (
    WebhookAcceptedSerializer,
    WebhookRetryInputSerializer,
    WebhookRetryOutputSerializer,
    WebhookStatsSerializer,
)
from webhooks_app.errors import PayloadTooLarge
from webhooks_app.models import Provider
from webhooks_app.selectors import webhook_stats
from webhooks_app.services import (
    AUDIT_HEADERS,
    Delivery,
    webhook_events_requeue,
    webhook_receive_async,
)

_ERRORS = {
    400: OpenApiResponse(description="Missing or invalid signature, or bad event."),
    413: OpenApiResponse(description="Body over WEBHOOK_MAX_BODY_BYTES."),
    415: OpenApiResponse(description="Content-Type is not application/json."),
    503: OpenApiResponse(description="`payments_not_configured`: no secret set."),
}
_STAFF_ERRORS = {
    401: OpenApiResponse(description="Not authenticated."),
    403: OpenApiResponse(description="`admin_required`: staff only."),
}


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _body_reader(request: HttpRequest):
    def read() -> bytes:
        try:
            return request.body
        except RequestDataTooBig:
            raise PayloadTooLarge() from None

    return read


class _RawWebhookView(APIView):
    """Runs as a plain async Django view: `dispatch` skips DRF's parsing, auth and
    negotiation, because the signature covers the raw bytes. It is an APIView
    only so that drf-spectacular documents it. Served by the lean ASGI handler
    (flowmatik/lean_handler.py: no session, CSRF or user middleware)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    provider: str = ""

    async def dispatch(self, request: HttpRequest, *args, **kwargs):
        if request.method != "POST":
            return error_response(
                ApplicationError(
                    "Only POST is allowed.", code="method_not_allowed", status_code=405
                )
            )
        return await self.post(request)

    async def receive(self, request: HttpRequest) -> JsonResponse:
        headers = request.headers
        delivery = Delivery(
            provider=self.provider,
            content_type=request.META.get("CONTENT_TYPE", ""),
            content_length=_content_length(request),
            headers={name: headers[name] for name in AUDIT_HEADERS if name in headers},
            read_body=_body_reader(request),
            remote_addr=request.META.get("REMOTE_ADDR", ""),
        )
        try:
            result = await webhook_receive_async(delivery=delivery)
        except ApplicationError as exc:
            return error_response(exc)
        return JsonResponse(
            {
                "received": True,
                "duplicate": result.duplicate,
                "event_id": result.event_id,
            }
        )


class StripeWebhookView(_RawWebhookView):
    provider = Provider.STRIPE

    @extend_schema(
        operation_id="webhooks_stripe_receive",
        summary="Receive a Stripe event",
        description=(
            "Verifies `Stripe-Signature` (HMAC-SHA256 of `{t}.{raw body}` with the "
            "endpoint secret; any `v1`; timestamp within the tolerance), stores the "
            "event once by its id and processes it in the background. A duplicate "
            "delivery answers 200 and changes nothing."
        ),
        parameters=[
            OpenApiParameter(
                "Stripe-Signature", str, OpenApiParameter.HEADER, required=True
            )
        ],
        request={"application/json": {"type": "object"}},
        responses={200: WebhookAcceptedSerializer, **_ERRORS},
        auth=[],
        tags=["webhooks"],
    )
    async def post(self, request):
        return await self.receive(request)


class LemonSqueezyWebhookView(_RawWebhookView):
    provider = Provider.LEMONSQUEEZY

    @extend_schema(
        operation_id="webhooks_lemonsqueezy_receive",
        summary="Receive a LemonSqueezy event",
        description=(
            "Verifies `X-Signature` (hex HMAC-SHA256 of the raw body), refuses "
            "`meta.test_mode` events in production, stores the event once (keyed by "
            "the body's sha256) and processes it in the background."
        ),
        parameters=[
            OpenApiParameter("X-Signature", str, OpenApiParameter.HEADER, required=True)
        ],
        request={"application/json": {"type": "object"}},
        responses={200: WebhookAcceptedSerializer, **_ERRORS},
        auth=[],
        tags=["webhooks"],
    )
    async def post(self, request):
        return await self.receive(request)


class WebhookStatsView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="webhooks_stats",
        summary="Webhook statistics (staff)",
        responses={200: WebhookStatsSerializer, **_STAFF_ERRORS},
        tags=["webhooks"],
    )
    def get(self, request):
        return Response(WebhookStatsSerializer(webhook_stats()).data)


class WebhookRetryView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="webhooks_retry",
        summary="Re-queue failed webhook events (staff)",
        request=WebhookRetryInputSerializer,
        responses={
            200: WebhookRetryOutputSerializer,
            400: OpenApiResponse(
                description="`invalid_input`: give exactly one of `event_ids` "
                "(at most WEBHOOK_RETRY_MAX_IDS) or `status`."
            ),
            **_STAFF_ERRORS,
        },
        tags=["webhooks"],
    )
    def post(self, request):
        serializer = WebhookRetryInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = webhook_events_requeue(
            event_ids=serializer.validated_data.get("event_ids"),
            status=serializer.validated_data.get("status"),
            actor=request.user,
        )
        return Response(WebhookRetryOutputSerializer({"requeued": count}).data)
