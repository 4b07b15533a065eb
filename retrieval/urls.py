"""URL routes of the retrieval app (staff pages)."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="retrieval_index"),
    path("search/", views.search_page, name="retrieval_search"),
    path("versions/", views.version_list, name="retrieval_versions"),
]
