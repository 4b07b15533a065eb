"""Pages of core: the signed-in user's API tokens."""
from django.urls import path

from . import views

urlpatterns = [
    path("api-tokens/", views.api_tokens, name="api_tokens"),
]
