"""Billing API views: thin; parse, call one service or selector, render."""

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.api.serializers import (
    CancelInputSerializer,
    CheckoutOutputSerializer,
    CurrentSubscriptionOutputSerializer,
    InvoiceOutputSerializer,
    PaginatedInvoiceOutputSerializer,
    PaginatedPaymentMethodOutputSerializer,
    PaginatedPlanOutputSerializer,
    PaymentMethodOutputSerializer,
    PlanInputSerializer,
    PlanOutputSerializer,
    PortalOutputSerializer,
    SubscriptionOutputSerializer,
)
from billing.models import Plan, Provider
from flowmatik.pagination import PageNumberPagination

TAGS = ["payments"]
PROVIDER_ERRORS = {
    402: OpenApiResponse(description="`payment_declined`."),
    502: OpenApiResponse(
        description="`payment_provider_error`, `payment_provider_rejected`, "
        "`payment_provider_unreachable` or `payment_provider_auth_failed`."
    ),
    503: OpenApiResponse(
        description="`payments_not_configured` (provider or plan price missing), "
        "or `payment_provider_unavailable` (rate limited, with Retry-After)."
    ),
    504: OpenApiResponse(description="`payment_provider_timeout`."),
}
# `?page=` / `?page_size=` of the paginated lists, and their 400 / past-the-end 404
PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number (from 1)."),
    OpenApiParameter("page_size", int, description="Items per page (capped)."),
]
PAGE_ERRORS = {
    400: OpenApiResponse(description="`invalid_input`: page or page_size."),
    404: OpenApiResponse(description="A page past the end."),
}
AUTH_ERRORS = {401: OpenApiResponse(description="Not authenticated.")}
NO_SUBSCRIPTION = {404: OpenApiResponse(description="`no_subscription`.")}


def _plan_data(plan: Plan) -> dict:
    return {
        "slug": plan.slug,
        "name": plan.name,
        "description": plan.description,
        "price": plan.price,
        "currency": plan.currency,
        "interval": plan.interval,
        "requests_per_day": plan.requests_per_day,
        "tokens_per_day": plan.tokens_per_day,
        "features": list(plan.features or []),
        "providers": selectors.plan_providers(plan=plan),
    }


def _paginated(request, view, items: list, serializer_class) -> Response:
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class PlanListView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        operation_id="payments_plans",
        summary="Plans with prices, limits, features and the providers selling each",
        tags=TAGS,
        parameters=PAGE_PARAMS,
        responses={200: PaginatedPlanOutputSerializer, **PAGE_ERRORS},
    )
    def get(self, request):
        plans = [_plan_data(p) for p in selectors.plan_list()]
        return _paginated(request, self, plans, PlanOutputSerializer)


class SubscriptionView(APIView):
    @extend_schema(
        operation_id="payments_subscription",
        summary="Your current plan and live subscription (Free and null when none)",
        tags=TAGS,
        responses={200: CurrentSubscriptionOutputSerializer, **AUTH_ERRORS},
    )
    def get(self, request):
        subscription = selectors.subscription_get_live(user_id=request.user.pk)
        plan = selectors.plan_get_for_user(user=request.user)
        return Response(
            {
                "plan": PlanOutputSerializer(_plan_data(plan)).data,
                "subscription": (
                    SubscriptionOutputSerializer(subscription).data
                    if subscription
                    else None
                ),
            }
        )


class _SubscribeView(APIView):
    provider = ""

    def post(self, request):
        body = PlanInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        url = services.subscription_checkout_start(
            user=request.user,
            plan_slug=body.validated_data["plan"],
            provider=self.provider,
        )
        return Response({"checkout_url": url})


def _subscribe_schema(*, operation_id: str, summary: str):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        tags=TAGS,
        request=PlanInputSerializer,
        responses={
            200: CheckoutOutputSerializer,
            400: OpenApiResponse(description="`plan_not_purchasable` (Free)."),
            404: OpenApiResponse(description="`plan_not_found`."),
            409: OpenApiResponse(
                description="`subscription_exists`: use change-plan instead."
            ),
            **AUTH_ERRORS,
            **PROVIDER_ERRORS,
        },
    )


@extend_schema_view(
    post=_subscribe_schema(
        operation_id="payments_subscribe_stripe",
        summary="Start a Stripe Checkout Session (subscription mode) for a plan",
    )
)
class SubscribeStripeView(_SubscribeView):
    provider = Provider.STRIPE


@extend_schema_view(
    post=_subscribe_schema(
        operation_id="payments_subscribe_lemonsqueezy",
        summary="Start a LemonSqueezy checkout for a plan",
    )
)
class SubscribeLemonSqueezyView(_SubscribeView):
    provider = Provider.LEMONSQUEEZY


class CancelView(APIView):
    @extend_schema(
        operation_id="payments_subscription_cancel",
        summary="Cancel at period end through the provider (now: admins only)",
        tags=TAGS,
        request=CancelInputSerializer,
        responses={
            200: SubscriptionOutputSerializer,
            400: OpenApiResponse(description="`invalid_input` (`details.fields`)."),
            403: OpenApiResponse(description="`immediately` by a non-admin."),
            **NO_SUBSCRIPTION,
            **AUTH_ERRORS,
            **PROVIDER_ERRORS,
        },
    )
    def post(self, request):
        body = CancelInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sub = services.subscription_cancel(
            user=request.user, immediately=body.validated_data["immediately"]
        )
        return Response(SubscriptionOutputSerializer(sub).data)


class ResumeView(APIView):
    @extend_schema(
        operation_id="payments_subscription_resume",
        summary="Undo a pending cancellation",
        tags=TAGS,
        request=None,
        responses={
            200: SubscriptionOutputSerializer,
            409: OpenApiResponse(
                description="`subscription_state_conflict`: nothing to resume."
            ),
            **NO_SUBSCRIPTION,
            **AUTH_ERRORS,
            **PROVIDER_ERRORS,
        },
    )
    def post(self, request):
        sub = services.subscription_resume(user=request.user)
        return Response(SubscriptionOutputSerializer(sub).data)


class ChangePlanView(APIView):
    @extend_schema(
        operation_id="payments_subscription_change_plan",
        summary="Upgrade or downgrade within the same provider (prorated there)",
        tags=TAGS,
        request=PlanInputSerializer,
        responses={
            200: SubscriptionOutputSerializer,
            400: OpenApiResponse(
                description="`invalid_input` (`details.fields`), or "
                "`plan_not_purchasable` (the Free plan)."
            ),
            404: OpenApiResponse(description="`no_subscription` or `plan_not_found`."),
            409: OpenApiResponse(
                description="`subscription_state_conflict`: already on that plan."
            ),
            **AUTH_ERRORS,
            **PROVIDER_ERRORS,
        },
    )
    def post(self, request):
        body = PlanInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sub = services.subscription_change_plan(
            user=request.user, plan_slug=body.validated_data["plan"]
        )
        return Response(SubscriptionOutputSerializer(sub).data)


class InvoiceListView(APIView):
    @extend_schema(
        operation_id="payments_invoices",
        summary="Your invoices from either provider, newest first",
        tags=TAGS,
        parameters=PAGE_PARAMS,
        responses={
            200: PaginatedInvoiceOutputSerializer,
            **PAGE_ERRORS,
            **AUTH_ERRORS,
            **PROVIDER_ERRORS,
        },
    )
    def get(self, request):
        invoices = selectors.invoice_list_for_user(user_id=request.user.pk)
        return _paginated(request, self, invoices, InvoiceOutputSerializer)


class PaymentMethodListView(APIView):
    @extend_schema(
        operation_id="payments_payment_methods",
        summary="Cards on file: brand, last 4, expiry",
        tags=TAGS,
        parameters=PAGE_PARAMS,
        responses={
            200: PaginatedPaymentMethodOutputSerializer,
            **PAGE_ERRORS,
            **AUTH_ERRORS,
            **PROVIDER_ERRORS,
        },
    )
    def get(self, request):
        methods = selectors.payment_method_list_for_user(user_id=request.user.pk)
        return _paginated(request, self, methods, PaymentMethodOutputSerializer)


class PortalView(APIView):
    @extend_schema(
        operation_id="payments_portal",
        summary="A fresh customer-portal URL from your subscription's provider",
        tags=TAGS,
        responses={
            200: PortalOutputSerializer,
            **NO_SUBSCRIPTION,
            **AUTH_ERRORS,
            **PROVIDER_ERRORS,
        },
    )
    def get(self, request):
        return Response({"url": services.subscription_portal_url(user=request.user)})
