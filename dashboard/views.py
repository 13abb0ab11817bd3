"""Portal pages (server-rendered). They call the same selectors as the API."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.selectors import plan_list


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/home.html", {"plans": plan_list()})
