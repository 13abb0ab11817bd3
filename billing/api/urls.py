"""URL routes of the billing API (mounted at /api/payments/)."""

from django.urls import path

from billing.api import views

urlpatterns = [
    path("plans", views.PlanListView.as_view(), name="payments-plans"),
    path(
        "subscription", views.SubscriptionView.as_view(), name="payments-subscription"
    ),
    path(
        "subscribe/stripe",
        views.SubscribeStripeView.as_view(),
        name="payments-subscribe-stripe",
    ),
    path(
        "subscribe/lemonsqueezy",
        views.SubscribeLemonSqueezyView.as_view(),
        name="payments-subscribe-lemonsqueezy",
    ),
    path(
        "subscription/cancel",
        views.CancelView.as_view(),
        name="payments-subscription-cancel",
    ),
    path(
        "subscription/resume",
        views.ResumeView.as_view(),
        name="payments-subscription-resume",
    ),
    path(
        "subscription/change-plan",
        views.ChangePlanView.as_view(),
        name="payments-subscription-change-plan",
    ),
    path("invoices", views.InvoiceListView.as_view(), name="payments-invoices"),
    path(
        "payment-methods",
        views.PaymentMethodListView.as_view(),
        name="payments-payment-methods",
    ),
    path("portal", views.PortalView.as_view(), name="payments-portal"),
]
