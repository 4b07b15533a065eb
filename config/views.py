"""The home page (links to every part of the product the user's roles open) and the site icon."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.templatetags.static import static


@login_required
def home(request):
    return render(request, "home.html")


def favicon(request):
    """`/favicon.ico`, which browsers and tools ask for without reading the page: the site icon (public)."""
    return redirect(static("favicon.svg"))
