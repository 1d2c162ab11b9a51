"""The shop's pages: a login that calls ``sstrack.identify``, a purchase that calls ``track``."""

from __future__ import annotations

from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.utils.html import escape

import sstrack

__all__ = ["account", "home", "log_in", "product", "purchase"]


def page(request: HttpRequest, body: str) -> HttpResponse:
    token = get_token(request)
    return HttpResponse(f"""<!doctype html><title>sstrack shop</title><p>{escape(body)}</p>
<form method=post action=/login/><input type=hidden name=csrfmiddlewaretoken value={token}>
<input name=username value=ada><button>Log in</button></form>
<form method=post action=/purchase/><input type=hidden name=csrfmiddlewaretoken value={token}>
<input name=order value=A-17><input name=total value=42.5><button>Buy</button></form>""")


def home(request: HttpRequest) -> HttpResponse:
    return page(request, "Welcome to the shop.")


def product(request: HttpRequest, product_id: int) -> HttpResponse:
    return page(request, f"Product {product_id}")


def log_in(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return page(request, "Please log in.")
    # A demo: anyone may log in as anyone. A real shop checks a password.
    user, _ = get_user_model().objects.get_or_create(username=request.POST["username"])
    login(request, user)
    sstrack.identify(user.pk, {"username": user.get_username()})  # links the visitor
    return HttpResponseRedirect("/account/")


@login_required(login_url="/login/")
def account(request: HttpRequest) -> HttpResponse:
    # request.user was loaded for this page, so its event carries user_id.
    return page(request, f"Logged in as {request.user.get_username()}")


@login_required(login_url="/login/")
def purchase(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseRedirect("/")
    sstrack.track("purchase", {"order": request.POST["order"],
                               "total": float(request.POST["total"])})
    return page(request, f"Thanks for order {request.POST['order']}")
