"""Forms of the automatic SBS and closed-loop pages (validation only; `sbs` and `closed_loop` do the work).

Their settings and limits are the typed configs' (`configs.py`); the forms add the model choices."""
from __future__ import annotations

from django import forms

from core.configs import ConfigForm, ConfigInvalid, config_form_fields, validate_config
from sbsapp.models import AutoJudgment, Campaign

from .configs import AutoSBSConfig, ClosedLoopConfig, MarkWeighting


def ready_judges(*, dataset_id: int | None = None):
    from synthesis.models import JudgeVersion

    judges = JudgeVersion.objects.filter(status=JudgeVersion.Status.READY).select_related("dataset")
    return judges.filter(dataset_id=dataset_id) if dataset_id is not None else judges


class AutoSBSForm(ConfigForm):
    config_class = AutoSBSConfig
    exclude_config_fields = ("campaign_id", "judge_version_id", "seed", "device")
    field_order = ["judge_kind", "judge_version", "tie_band", "strong_band", "llm_model"]

    judge_kind = forms.ChoiceField(choices=AutoJudgment.Kind.choices, initial=AutoJudgment.Kind.DCG, label="Judge")
    judge_version = forms.ModelChoiceField(queryset=ready_judges().none(), required=False,
                                           help_text=AutoSBSConfig.model_fields["judge_version_id"].description)

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)
        self.campaign = campaign
        judges = ready_judges(dataset_id=campaign.system_a.dataset_id)
        self.fields["judge_version"].queryset = judges
        self.fields["judge_version"].initial = judges.order_by("-created_at").first()

    def config_data(self, cleaned: dict) -> dict:
        version = cleaned.get("judge_version")
        return {**super().config_data(cleaned), "campaign_id": self.campaign.pk,
                "judge_version_id": version.pk if version is not None else None}


class RetrainJudgeForm(ConfigForm):
    """The closed loop's form: `ClosedLoopConfig` with its `MarkWeighting` fields shown flat."""

    config_class = ClosedLoopConfig
    exclude_config_fields = ("campaign_ids", "base_judge_version_id", "judge_version_id")
    field_order = ["campaigns", "base_judge", "name", *MarkWeighting.model_fields]

    campaigns = forms.ModelMultipleChoiceField(
        queryset=Campaign.objects.filter(status__in=[Campaign.Status.ACTIVE, Campaign.Status.CLOSED]),
        help_text=ClosedLoopConfig.model_fields["campaign_ids"].description + " (one data set)")
    base_judge = forms.ModelChoiceField(queryset=ready_judges(), label="Judge to improve",
                                        help_text="The new version keeps its settings and is validated beside it.")
    name = forms.SlugField(required=False, help_text="Empty: <judge>-sbs-<time>.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field_name, field in config_form_fields(MarkWeighting).items():
            self.fields.setdefault(field_name, field)
        self.order_fields(self.field_order)

    def weighting_data(self, cleaned: dict) -> dict:
        return {name: cleaned[name] for name in MarkWeighting.model_fields if cleaned.get(name) is not None}

    def clean(self):
        cleaned = forms.Form.clean(self)
        if not self.errors:  # the weighting's own errors go to its fields (nested, the config names them "weighting")
            try:
                validate_config(MarkWeighting, self.weighting_data(cleaned))
            except ConfigInvalid as exc:
                for field, messages in exc.errors.items():
                    for message in messages:
                        self.add_error(field if field in self.fields else None, message)
        return super().clean()

    def config_data(self, cleaned: dict) -> dict:
        return {**super().config_data(cleaned), "campaign_ids": [campaign.pk for campaign in cleaned["campaigns"]],
                "base_judge_version_id": cleaned["base_judge"].pk, "weighting": self.weighting_data(cleaned)}
