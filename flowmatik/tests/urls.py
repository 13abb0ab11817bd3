"""Test-only routes that exercise the error envelope through real views."""

from django.http import StreamingHttpResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from flowmatik.errors import Conflict
from flowmatik.request_context import get_request_id


class _EchoInput(serializers.Serializer):
    email = serializers.EmailField()
    count = serializers.IntegerField(min_value=1)


class EchoView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        data = _EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(data.validated_data)


class BoomView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("secret internal detail sk_live_abc123")


class ConflictView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise Conflict("Already subscribed.", code="subscription_exists")


def plain_boom(request):
    raise ValueError("plain view failure")


def streamed_request_id(request):
    """A streamed body that says which request id it was produced under."""

    def body():
        yield (get_request_id() or "none").encode()

    return StreamingHttpResponse(body())


async def astreamed_request_id(request):
    async def body():
        yield (get_request_id() or "none").encode()

    return StreamingHttpResponse(body())


urlpatterns = [
    path("api/test/stream", streamed_request_id),
    path("api/test/astream", astreamed_request_id),
    path("api/test/echo", EchoView.as_view()),
    path("api/test/boom", BoomView.as_view()),
    path("api/test/conflict", ConflictView.as_view()),
    path("api/test/plain-boom", plain_boom),
    path("", include("flowmatik.urls")),
]
