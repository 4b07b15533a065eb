"""SBS pages, mounted at /sbs/: campaigns, dashboards, the judging page and the annotator's history."""
from django.urls import path

from . import sbs_views as views

app_name = "sbs"
urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", views.campaign_dashboard, name="dashboard"),
    path("campaigns/<int:pk>/live/", views.campaign_dashboard_live, name="dashboard_live"),
    path("campaigns/<int:pk>/generate/", views.campaign_generate, name="campaign_generate"),
    path("campaigns/<int:pk>/status/", views.campaign_status, name="campaign_status"),
    path("campaigns/<int:pk>/judge/", views.judge, name="judge"),
    path("campaigns/<int:pk>/undo/", views.judge_undo, name="judge_undo"),
    path("items/<str:token>/", views.item_detail, name="item_detail"),
    path("items/<str:token>/gold/", views.item_gold, name="item_gold"),
    path("judge/<str:token>/", views.judge_submit, name="judge_submit"),
    path("judge/<str:token>/skip/", views.judge_skip, name="judge_skip"),
    path("history/", views.history, name="history"),
]
