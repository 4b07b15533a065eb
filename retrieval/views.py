"""Staff pages of the retrieval app: side-by-side search over two retriever versions, and the versions list."""
from django import forms
from django.shortcuts import redirect, render

from core.roles import ANALYST, role_required

from .models import RetrieverVersion
from .search import SearcherLoading, side_by_side

LOADING_POLL_SECONDS = 2


class CompareForm(forms.Form):
    q = forms.CharField(label="Query", max_length=500, strip=True)
    a = forms.ModelChoiceField(label="Left version", queryset=RetrieverVersion.objects.none(), to_field_name="name")
    b = forms.ModelChoiceField(label="Right version", queryset=RetrieverVersion.objects.none(), to_field_name="name")
    k = forms.IntegerField(label="Top K", min_value=1, max_value=100, initial=10, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ready = RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY).select_related("dataset")
        self.fields["a"].queryset = ready
        self.fields["b"].queryset = ready
        self.fields["a"].label_from_instance = self.fields["b"].label_from_instance = (
            lambda v: f"{v.name} ({v.kind}, {v.dataset.name})")

    def clean(self):
        data = super().clean()
        a, b = data.get("a"), data.get("b")
        if a and b and a.dataset_id != b.dataset_id:
            raise forms.ValidationError("Pick two versions of the same data set.")
        return data


@role_required(ANALYST)
def search_page(request):
    """Type a query, pick two versions, see both top-K lists side by side (results swap in through htmx).

    A dense model that is not in memory yet loads in the background: the answer says so at once and the
    partial asks again every LOADING_POLL_SECONDS until the results are there.
    """
    form = CompareForm(request.GET or None)
    sides, loading = None, None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            sides = side_by_side(version_a=data["a"], version_b=data["b"], text=data["q"], k=data.get("k") or 10,
                                 wait=False)
        except SearcherLoading as exc:
            loading = exc.names
    context = {"form": form, "sides": sides, "loading": loading, "poll_seconds": LOADING_POLL_SECONDS}
    template = "retrieval/_comparison.html" if request.htmx else "retrieval/search.html"
    return render(request, template, context)


@role_required(ANALYST)
def index(request):
    """`/retrieval/`: the versions page, which links the side-by-side search."""
    return redirect("retrieval_versions")


@role_required(ANALYST)
def version_list(request):
    """Every version with its status, build progress and headline metrics (all / head / tail)."""
    versions = RetrieverVersion.objects.select_related("dataset", "build_job", "eval_job").prefetch_related("components")
    rows = [
        {
            "version": version,
            "components": ", ".join(c.name for c in version.components.all()),
            "pairs": _pairs_summary(version),
            "metrics": [_metric(version, group, name) for group, name in HEADLINE_METRICS],
        }
        for version in versions
    ]
    names = [f"{name} ({group[-1] if group[0] == 'segment' else 'all'})" for group, name in HEADLINE_METRICS]
    return render(request, "retrieval/versions.html", {"rows": rows, "metric_names": names})


HEADLINE_METRICS = [(("all",), "nDCG@10"), (("all",), "Recall@100"), (("segment", "head"), "nDCG@10"),
                    (("segment", "tail"), "nDCG@10")]


def _metric(version: RetrieverVersion, group: tuple, name: str):
    node = version.metrics or {}
    for key in group:
        node = node.get(key) or {}
    value = node.get(name)
    return None if value is None else f"{value:.3f}"


def _pairs_summary(version: RetrieverVersion) -> str:
    sources = ((version.manifest or {}).get("training_data") or {}).get("sources") or {}
    return ", ".join(f"{name} {info.get('pairs', 0)}" for name, info in sources.items())
