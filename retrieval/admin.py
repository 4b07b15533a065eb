"""Admin for the catalogue (data sets, products, queries, logs, labels; read-mostly) and retriever versions
(created, built, evaluated and repaired through the services in retrieval.versions, with actions that start jobs)."""
from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from core.configs import ConfigInvalid

from .models import Dataset, Interaction, Product, Qrel, Query, RetrieverVersion


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "source_format", "license", "imported_at")
    search_fields = ("name",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("product_id", "title", "brand", "category", "price", "dataset")
    list_filter = ("dataset",)
    search_fields = ("product_id", "title", "brand")
    list_select_related = ("dataset",)


@admin.register(Query)
class QueryAdmin(admin.ModelAdmin):
    list_display = ("query_id", "text", "frequency", "segment", "query_type", "dataset")
    list_filter = ("dataset", "segment", "query_type")
    search_fields = ("query_id", "text")


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("query", "product", "impressions", "clicks", "purchases")
    raw_id_fields = ("query", "product")
    list_select_related = ("query", "product")


@admin.register(Qrel)
class QrelAdmin(admin.ModelAdmin):
    list_display = ("query", "product", "grade", "split")
    list_filter = ("split", "grade")
    raw_id_fields = ("query", "product")
    list_select_related = ("query", "product")


# --- retriever versions: created through the services, built/evaluated as jobs, immutable once built ---

class RetrieverVersionForm(forms.ModelForm):
    """Add/change form for a draft version; it validates through `VersionBuildConfig`, the same typed config as
    `manage.py train_retriever` and the services, so a limit and its message are stated there only."""

    hyperparams = forms.JSONField(
        label="Config", required=False, initial=dict,
        help_text='Options for this kind, e.g. dense: {"epochs": 1, "batch_size": 32, "temperature": 0.05, '
                  '"extra_sources": [{"name": "synthetic", "ratio": 0.3}]}; hybrid: {"components": ["bm25-x", '
                  '"dense-y"]}. Missing options take their defaults.',
    )
    config_fields = {"config": "hyperparams"}  # VersionBuildConfig field -> form field

    class Meta:
        model = RetrieverVersion
        fields = ("dataset", "name", "kind", "base_model", "seed", "hyperparams")

    def clean(self):
        from .versions import normalize_config, version_definition_check, version_spec

        data = super().clean()
        if self.errors:
            return data
        try:
            if self.instance.pk:
                data["hyperparams"] = normalize_config(kind=self.instance.kind, config=data.get("hyperparams"))
            else:
                spec = version_spec(dataset=data["dataset"], name=data["name"], kind=data["kind"],
                                    config=data.get("hyperparams"), base_model=data.get("base_model") or "",
                                    seed=data["seed"])
                version_definition_check(dataset=data["dataset"], spec=spec)
        except ConfigInvalid as exc:
            if self.instance.pk:  # only the hyper-parameters were checked
                self.add_error("hyperparams", str(exc))
                return data
            for field, messages in exc.errors.items():
                field = self.config_fields.get(field, field)
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(RetrieverVersion)
class RetrieverVersionAdmin(admin.ModelAdmin):
    form = RetrieverVersionForm
    list_display = ("name", "dataset", "kind", "status", "headline_metrics", "build_job_link", "built_at")
    list_filter = ("dataset", "kind", "status")
    search_fields = ("name", "base_model")
    list_select_related = ("dataset", "build_job")
    actions = ("start_build", "start_evaluation", "start_index_rebuild")
    built_readonly = ("dataset", "name", "kind", "base_model", "seed", "hyperparams", "component_names", "manifest",
                      "artifact_dir", "metrics", "status", "error", "build_job_link", "eval_job_link",
                      "created_by", "built_at")

    def get_fields(self, request, obj=None):
        if obj is None or obj.status not in (RetrieverVersion.Status.DRAFT, RetrieverVersion.Status.FAILED):
            return self.built_readonly if obj else ("dataset", "name", "kind", "base_model", "seed", "hyperparams")
        return ("dataset", "name", "kind", "base_model", "seed", "hyperparams", "status", "error", "build_job_link",
                "manifest")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.status in (RetrieverVersion.Status.DRAFT, RetrieverVersion.Status.FAILED):
            return ("dataset", "name", "kind", "status", "error", "build_job_link", "manifest")
        return self.built_readonly

    def has_delete_permission(self, request, obj=None):
        # A built version may be referenced by campaigns and other versions; only drafts and failures go.
        if obj is not None and obj.status not in (RetrieverVersion.Status.DRAFT, RetrieverVersion.Status.FAILED):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        from .versions import version_create, version_update

        data = form.cleaned_data
        if change:
            version_update(version=obj, config=data.get("hyperparams") or {}, base_model=data.get("base_model", ""),
                           seed=data.get("seed"))
            return
        created = version_create(dataset=data["dataset"], name=data["name"], kind=data["kind"],
                                 config=data.get("hyperparams") or {}, base_model=data.get("base_model") or "",
                                 seed=data.get("seed") or 13, user=request.user)
        obj.pk = created.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # components come from the config, set by the service

    @admin.display(description="components")
    def component_names(self, obj):
        return ", ".join(obj.components.values_list("name", flat=True)) or "-"

    @admin.display(description="nDCG@10 / Recall@100 (all)")
    def headline_metrics(self, obj):
        overall = (obj.metrics or {}).get("all") or {}
        if "nDCG@10" not in overall:
            return "-"
        return f"{overall['nDCG@10']:.3f} / {overall['Recall@100']:.3f}"

    @admin.display(description="build job")
    def build_job_link(self, obj):
        return _job_link(obj.build_job)

    @admin.display(description="evaluation job")
    def eval_job_link(self, obj):
        return _job_link(obj.eval_job)

    def _start(self, request, queryset, start, verb: str):
        from jobs.services import BrokerUnavailable

        jobs = []
        for version in queryset:
            try:
                jobs.append(start(version=version, user=request.user))
            except BrokerUnavailable as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            except Exception as exc:  # the services raise plain, readable errors
                self.message_user(request, f"{version.name}: {exc}", messages.ERROR)
        for job in jobs:
            self.message_user(request, format_html('{} started: <a href="{}">job #{}</a>', verb,
                                                   reverse("job_detail", args=[job.pk]), job.pk), messages.SUCCESS)
        if len(jobs) == 1:
            return redirect("job_detail", pk=jobs[0].pk)
        return None

    @admin.action(description="Build selected versions (train, encode, index)")
    def start_build(self, request, queryset):
        from .versions import version_start_build

        return self._start(request, queryset, version_start_build, "Build")

    @admin.action(description="Evaluate selected versions on the test labels")
    def start_evaluation(self, request, queryset):
        from .versions import version_evaluate

        return self._start(request, queryset, version_evaluate, "Evaluation")

    @admin.action(description="Rebuild index (repair missing or corrupt index files)")
    def start_index_rebuild(self, request, queryset):
        from .versions import version_rebuild_index

        return self._start(request, queryset, version_rebuild_index, "Index rebuild")


def _job_link(job):
    if job is None:
        return "-"
    return format_html('<a href="{}">#{} {} ({}%)</a>', reverse("job_detail", args=[job.pk]), job.pk,
                       job.status, job.percent)
