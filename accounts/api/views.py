"""Accounts API views: thin, one per operation (parse, call a service, render)."""

from django.contrib.auth import update_session_auth_hash
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services, tokens
from accounts.api import serializers as s
from accounts.authentication import BoundSessionAuthentication, JwtAuthentication
from accounts.credentials import credentials_from_headers
from accounts.ip_throttle import rate_limit_ip
from flowmatik.pagination import PageNumberPagination

TAG = ["auth"]
ERRORS = {
    400: OpenApiResponse(description="Invalid input (`details.fields`)."),
    401: OpenApiResponse(description="Not authenticated or invalid token."),
}
RATE_LIMITED = {429: OpenApiResponse(description="`rate_limited`, with Retry-After.")}
# Managing the account itself needs a log-in (JWT or portal session), not an API key.
ACCOUNT_AUTH = [JwtAuthentication, BoundSessionAuthentication]
FORGOT_DETAIL = (
    "If an account exists for this e-mail, a link to reset its password is on its way."
)


def _pair(pair: tokens.TokenPair) -> dict:
    return {
        "access": pair.access,
        "refresh": pair.refresh,
        "token_type": "Bearer",
        "access_expires_in": pair.access_expires_in,
    }


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAG,
        request=s.RegisterInput,
        responses={
            201: s.AuthOutput,
            **ERRORS,
            409: OpenApiResponse(description="`email_taken`."),
            **RATE_LIMITED,
        },
        summary="Create an account and get a token pair",
    )
    def post(self, request: Request) -> Response:
        rate_limit_ip(request=request, group="accounts.register")
        data = s.RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        pair = tokens.token_pair_issue(user=user)
        body = {**_pair(pair), "user": s.UserOutput(user).data}
        return Response(body, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAG,
        request=s.LoginInput,
        responses={
            200: s.AuthOutput,
            **ERRORS,
            429: OpenApiResponse(
                description="`rate_limited` or `account_locked`, with Retry-After."
            ),
        },
        summary="Log in with e-mail and password",
    )
    def post(self, request: Request) -> Response:
        rate_limit_ip(request=request, group="accounts.login")
        data = s.LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, pair = services.user_token_login(
            request=request._request, **data.validated_data
        )
        return Response({**_pair(pair), "user": s.UserOutput(user).data})


class RefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAG,
        request=s.RefreshInput,
        responses={200: s.TokenPairOutput, **ERRORS},
        summary="Rotate a refresh token: a new pair; the old refresh token is spent",
    )
    def post(self, request: Request) -> Response:
        data = s.RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        pair = tokens.token_refresh(refresh=data.validated_data["refresh"])
        return Response(_pair(pair))


class LogoutView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAG,
        request=s.RefreshInput,
        responses={204: None, **ERRORS},
        summary="Log out: blacklist the refresh token",
        description=(
            "Send the access token too (`Authorization: Bearer ...`) and it stops "
            "working at once instead of at its expiry."
        ),
    )
    def post(self, request: Request) -> Response:
        data = s.RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        kind, access = credentials_from_headers(request.headers)
        services.user_logout(
            refresh=data.validated_data["refresh"],
            access=access if kind == "jwt" else None,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAG,
        responses={200: s.MeOutput, **ERRORS},
        summary="The current user: profile, role, plan and quota",
    )
    def get(self, request: Request) -> Response:
        me = selectors.user_me(user=request.user)
        return Response(
            s.MeOutput(
                {"user": me.user, "role": me.role, "plan": me.plan, "quota": me.quota}
            ).data
        )


class ProfileView(APIView):
    authentication_classes = ACCOUNT_AUTH
    permission_classes = [IsAuthenticated]

    def _update(self, request: Request) -> Response:
        # PUT updates the fields sent, as PATCH does: a frontend form sends only
        # what it shows, and a missing field must not wipe (or block) the rest.
        data = s.ProfileInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_profile_update(user=request.user, data=data.validated_data)
        return Response(s.UserOutput(user).data)

    @extend_schema(
        tags=TAG,
        request=s.ProfileInput,
        responses={200: s.UserOutput, **ERRORS},
        summary="Update the profile fields sent (as PATCH)",
    )
    def put(self, request: Request) -> Response:
        return self._update(request)

    @extend_schema(
        tags=TAG,
        request=s.ProfileInput,
        responses={200: s.UserOutput, **ERRORS},
        summary="Update some profile fields",
    )
    def patch(self, request: Request) -> Response:
        return self._update(request)


class ChangePasswordView(APIView):
    authentication_classes = ACCOUNT_AUTH
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAG,
        request=s.ChangePasswordInput,
        responses={200: s.TokenPairOutput, **ERRORS},
        summary="Change the password; every other session is signed out",
        description=(
            "Returns a new token pair for this session; every refresh token issued "
            "before is revoked and older access tokens stop working."
        ),
    )
    def post(self, request: Request) -> Response:
        data = s.ChangePasswordInput(data=request.data)
        data.is_valid(raise_exception=True)
        pair = services.user_password_change(user=request.user, **data.validated_data)
        if isinstance(request.successful_authenticator, BoundSessionAuthentication):
            # Keep this browser signed in; other sessions die with the old hash.
            update_session_auth_hash(request._request, request.user)
        return Response(_pair(pair))


class ForgotPasswordView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAG,
        request=s.ForgotPasswordInput,
        responses={202: s.DetailOutput, 400: ERRORS[400], **RATE_LIMITED},
        summary="Ask for a password reset e-mail (same answer for any e-mail)",
    )
    def post(self, request: Request) -> Response:
        rate_limit_ip(request=request, group="accounts.forgot_password")
        data = s.ForgotPasswordInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response({"detail": FORGOT_DETAIL}, status=status.HTTP_202_ACCEPTED)


class ResetPasswordView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAG,
        request=s.ResetPasswordInput,
        responses={
            200: s.DetailOutput,
            400: OpenApiResponse(
                description="`invalid_reset_token` or `invalid_password`."
            ),
        },
        summary="Set a new password from a reset link (single use)",
    )
    def post(self, request: Request) -> Response:
        data = s.ResetPasswordInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(
            uidb64=data.validated_data["uid"],
            token=data.validated_data["token"],
            new_password=data.validated_data["new_password"],
        )
        return Response({"detail": "Your password was reset. Log in again."})


class ApiKeyListCreateView(APIView):
    authentication_classes = ACCOUNT_AUTH
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAG,
        parameters=[
            OpenApiParameter("page", int, description="Page number (from 1)."),
            OpenApiParameter(
                "page_size", int, description="Keys per page (capped by the server)."
            ),
        ],
        responses={
            200: s.ApiKeyPageOutput,
            **ERRORS,
            404: OpenApiResponse(description="A page past the end."),
        },
        summary="List my API keys (the secret is never shown again)",
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.api_key_list(user=request.user), request, view=self
        )
        context = {"now": timezone.now()}
        return paginator.get_paginated_response(
            s.ApiKeyOutput(page, many=True, context=context).data
        )

    @extend_schema(
        tags=TAG,
        request=s.ApiKeyCreateInput,
        responses={
            201: s.ApiKeyCreatedOutput,
            **ERRORS,
            403: OpenApiResponse(description="`plan_feature_required` (api)."),
        },
        summary="Create an API key (needs a plan with API access)",
    )
    def post(self, request: Request) -> Response:
        data = s.ApiKeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.api_key_create(user=request.user, **data.validated_data)
        body = s.ApiKeyOutput(created.api_key, context={"now": timezone.now()}).data
        return Response({**body, "key": created.raw_key}, status=201)


class ApiKeyDetailView(APIView):
    authentication_classes = ACCOUNT_AUTH
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAG,
        responses={204: None, 401: ERRORS[401], 404: OpenApiResponse()},
        summary="Revoke an API key",
    )
    def delete(self, request: Request, api_key_id: int) -> Response:
        api_key = selectors.api_key_get(user=request.user, api_key_id=api_key_id)
        services.api_key_revoke(api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)
