"""URL patterns; the test events' ``route`` is the pattern as written here."""

from __future__ import annotations

from django.urls import path

from . import views

__all__ = ["urlpatterns"]

urlpatterns = [
    path("", views.home),
    path("articles/<int:year>/", views.article),
    path("async/<slug:name>/", views.async_article),
    path("me/", views.me),
    path("ame/", views.async_me),
    path("login/", views.log_in),
    path("purchase/", views.purchase),
    path("apurchase/", views.async_purchase),
    path("thread/", views.in_thread),
    path("stream/", views.stream),
    path("astream/", views.async_stream),
    path("slow/", views.slow),
    path("sync-slow/", views.sync_slow),
    path("boom/", views.boom),
    path("cached/", views.cached),
    path("file/", views.file),
    path("cookie/", views.with_cookie),
]
