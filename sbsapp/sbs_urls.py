"""SBS pages, mounted at /sbs/: campaigns, dashboards, the judging page and the annotator's history."""
from django.urls import path

from . import review_views, sbs_views as views
from .plan_views import plan_preview

app_name = "sbs"
urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/plan/", plan_preview, name="plan_preview"),
    path("campaigns/<int:pk>/", views.campaign_dashboard, name="dashboard"),
    path("campaigns/<int:pk>/live/", views.campaign_dashboard_live, name="dashboard_live"),
    path("campaigns/<int:pk>/queries/", views.campaign_queries, name="campaign_queries"),
    path("campaigns/<int:pk>/generate/", views.campaign_generate, name="campaign_generate"),
    path("campaigns/<int:pk>/status/", views.campaign_status, name="campaign_status"),
    path("campaigns/<int:pk>/judge/", views.judge, name="judge"),
    path("campaigns/<int:pk>/undo/", views.judge_undo, name="judge_undo"),
    path("items/<str:token>/", views.item_detail, name="item_detail"),
    path("items/<str:token>/gold/", views.item_gold, name="item_gold"),
    path("judge/<str:token>/", views.judge_submit, name="judge_submit"),
    path("judge/<str:token>/skip/", views.judge_skip, name="judge_skip"),
    path("history/", views.history, name="history"),
    path("leaderboard/", review_views.leaderboard_index, name="leaderboard_index"),
    path("leaderboard/<slug:dataset>/", review_views.leaderboard, name="leaderboard"),
    path("review/", review_views.review_queue_page, name="review_queue"),
    path("review/<str:token>/", review_views.review_item, name="review_item"),
    path("campaigns/<int:pk>/adjudicated/", review_views.adjudicated_panel, name="adjudicated_view"),
]
