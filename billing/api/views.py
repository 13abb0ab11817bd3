"""Billing API views: thin; parse, call one service or selector, render."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.api.serializers import (
    CancelInputSerializer,
    CheckoutOutputSerializer,
    CurrentSubscriptionOutputSerializer,
    InvoiceOutputSerializer,
    PaymentMethodOutputSerializer,
    PlanInputSerializer,
    PlanOutputSerializer,
    PortalOutputSerializer,
    SubscriptionOutputSerializer,
)
from billing.models import Plan, Provider
from flowmatik.pagination import PageNumberPagination

_ERRORS = (
    "Errors: 503 payments_not_configured, 502 payment_provider_error / "
    "payment_provider_rejected / payment_provider_unreachable, 504 "
    "payment_provider_timeout, 503 payment_provider_unavailable."
)


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
        responses=PlanOutputSerializer(many=True),
    )
    def get(self, request):
        plans = [_plan_data(p) for p in selectors.plan_list()]
        return _paginated(request, self, plans, PlanOutputSerializer)


class SubscriptionView(APIView):
    @extend_schema(
        operation_id="payments_subscription",
        summary="Your current plan and live subscription (Free and null when none)",
        responses=CurrentSubscriptionOutputSerializer,
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


class SubscribeStripeView(_SubscribeView):
    provider = Provider.STRIPE

    @extend_schema(
        operation_id="payments_subscribe_stripe",
        summary="Start a Stripe Checkout Session (subscription mode) for a plan",
        description="409 subscription_exists when you already have a live "
        "subscription (use change-plan). " + _ERRORS,
        request=PlanInputSerializer,
        responses=CheckoutOutputSerializer,
    )
    def post(self, request):
        return super().post(request)


class SubscribeLemonSqueezyView(_SubscribeView):
    provider = Provider.LEMONSQUEEZY

    @extend_schema(
        operation_id="payments_subscribe_lemonsqueezy",
        summary="Start a LemonSqueezy checkout for a plan",
        description="409 subscription_exists when you already have a live "
        "subscription (use change-plan). " + _ERRORS,
        request=PlanInputSerializer,
        responses=CheckoutOutputSerializer,
    )
    def post(self, request):
        return super().post(request)


class CancelView(APIView):
    @extend_schema(
        operation_id="payments_subscription_cancel",
        summary="Cancel at period end through the provider (now: admins only)",
        description="404 no_subscription; 403 for `immediately` by non-admins. "
        + _ERRORS,
        request=CancelInputSerializer,
        responses=SubscriptionOutputSerializer,
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
        description="409 subscription_state_conflict when nothing is pending. "
        + _ERRORS,
        request=None,
        responses=SubscriptionOutputSerializer,
    )
    def post(self, request):
        sub = services.subscription_resume(user=request.user)
        return Response(SubscriptionOutputSerializer(sub).data)


class ChangePlanView(APIView):
    @extend_schema(
        operation_id="payments_subscription_change_plan",
        summary="Upgrade or downgrade within the same provider (prorated there)",
        request=PlanInputSerializer,
        responses=SubscriptionOutputSerializer,
        description=_ERRORS,
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
        responses=InvoiceOutputSerializer(many=True),
        description=_ERRORS,
    )
    def get(self, request):
        invoices = selectors.invoice_list_for_user(user_id=request.user.pk)
        return _paginated(request, self, invoices, InvoiceOutputSerializer)


class PaymentMethodListView(APIView):
    @extend_schema(
        operation_id="payments_payment_methods",
        summary="Cards on file: brand, last 4, expiry",
        responses=PaymentMethodOutputSerializer(many=True),
        description=_ERRORS,
    )
    def get(self, request):
        methods = selectors.payment_method_list_for_user(user_id=request.user.pk)
        return _paginated(request, self, methods, PaymentMethodOutputSerializer)


class PortalView(APIView):
    @extend_schema(
        operation_id="payments_portal",
        summary="A fresh customer-portal URL from your subscription's provider",
        responses=PortalOutputSerializer,
        description="404 no_subscription. " + _ERRORS,
    )
    def get(self, request):
        return Response({"url": services.subscription_portal_url(user=request.user)})
