"""What every visit touches: the site icon, and the admin's names for things."""
import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse


@pytest.mark.django_db
def test_favicon_ico_leads_anyone_to_the_site_icon_every_page_links():
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg")
    page = Client().get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in page


@pytest.mark.django_db
def test_admin_names_mined_queries_in_plain_english(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Mined queries" in page and "Mined querys" not in page
