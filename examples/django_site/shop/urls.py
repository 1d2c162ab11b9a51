"""URL patterns; each request event's ``route`` is the pattern written here."""

from __future__ import annotations

from django.urls import path

from . import views

__all__ = ["urlpatterns"]

urlpatterns = [
    path("", views.home),
    path("products/<int:product_id>/", views.product),
    path("login/", views.log_in),
    path("account/", views.account),
    path("purchase/", views.purchase),
]
