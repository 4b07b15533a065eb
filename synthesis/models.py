"""State of synthesis: mined queries (with the per-query done marker), rewrite candidates, curated synthetic
pairs, and trained relevance-judge versions."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from jobs.models import Job


class SynthesisJob(Job):
    """The synthesis runs among all jobs (a proxy, so the admin can list and start them on their own page)."""

    KIND = "synthesis"

    class Meta:
        proxy = True
        verbose_name = "synthesis job"


class JudgeVersion(models.Model):
    """A trained cross-encoder relevance judge: where it is, what it learnt from, how well it validates."""

    class Status(models.TextChoices):
        TRAINING = "training"
        READY = "ready"
        FAILED = "failed"

    dataset = models.ForeignKey("retrieval.Dataset", on_delete=models.PROTECT, related_name="judge_versions")
    name = models.SlugField(max_length=100, unique=True)
    base_model = models.CharField(max_length=300)
    artifact_path = models.CharField(max_length=500, blank=True)
    manifest = models.JSONField(default=dict, blank=True, help_text="Training examples by source, split sizes")
    hyperparams = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Validation accuracy and AUC")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING, db_index=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def validation_accuracy(self):
        return self.metrics.get("accuracy")

    @property
    def validation_auc(self):
        return self.metrics.get("auc")


class MinedQuery(models.Model):
    """A query a synthesis job works on, its type tags with reasons, and `done_at` once its rows are written."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="mined_queries")
    query = models.ForeignKey("retrieval.Query", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    clicks = models.PositiveIntegerField(default=0)
    tags = models.JSONField(default=list, blank=True, help_text='[{"type", "reason", "source"}]')
    candidates = models.PositiveIntegerField(default=0, help_text="Distinct products retrieved by all rewrites")
    hard_negatives = models.JSONField(default=list, blank=True,
                                      help_text="[[product pk, judge score], ...]: retrieved products the judge "
                                                "rejected, best-retrieved first (soft labels' hard negatives)")
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "mined queries"
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "query"], name="uniq_mined_query_per_job")]
        indexes = [models.Index(fields=["job", "done_at"])]

    def __str__(self) -> str:
        return f"job {self.job_id}: {self.query_id}"

    @property
    def type_names(self) -> list[str]:
        return sorted({tag["type"] for tag in self.tags})


class RewriteCandidate(models.Model):
    """One rewrite the rewriter proposed for a query, with how many products it found and how many were kept."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="rewrite_candidates")
    query = models.ForeignKey("retrieval.Query", on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    rank = models.PositiveSmallIntegerField(default=0)
    retrieved = models.PositiveIntegerField(default=0)
    kept = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["job", "query", "rank"]
        constraints = [models.UniqueConstraint(fields=["job", "query", "text"], name="uniq_rewrite_per_job_query")]

    def __str__(self) -> str:
        return self.text


class SyntheticPair(models.Model):
    """A curated (ORIGINAL query, product) training pair and its provenance."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="synthetic_pairs")
    query = models.ForeignKey("retrieval.Query", on_delete=models.CASCADE, related_name="synthetic_pairs")
    product = models.ForeignKey("retrieval.Product", on_delete=models.CASCADE, related_name="synthetic_pairs")
    judge_score = models.FloatField()
    incremental = models.BooleanField(help_text="Not in the baseline's top-K for the original query")
    found_by_original = models.BooleanField(default=False)
    rewrites = models.JSONField(default=list, blank=True, help_text="The rewrites whose retrieval found it")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "query", "-judge_score"]
        constraints = [
            models.UniqueConstraint(fields=["job", "query", "product"], name="uniq_synthetic_pair_per_job"),
            models.CheckConstraint(condition=Q(judge_score__gte=0) & Q(judge_score__lte=1), name="judge_score_0_1"),
        ]
        indexes = [models.Index(fields=["job", "incremental"])]

    def __str__(self) -> str:
        return f"{self.query_id} -> {self.product_id} ({self.judge_score:.2f})"


class RewriterVersion(models.Model):
    """A trained rewriter (SFT or GRPO): where its HF model folder is, what it learnt from, how it scored.

    `artifact_path` is an ordinary HF causal-LM folder, usable as a synthesis job's `hf-local` rewriter model
    (`rewriters.load_rewriter(model=version.artifact_path)`). `reward_curves` holds one point per training
    step: `{"step", "combined", "<reward>"..., "loss"}` (SFT versions: the loss only).
    """

    class Method(models.TextChoices):
        SFT = "sft", "supervised fine-tuning"
        GRPO = "grpo", "GRPO (RL on the rewards)"

    class Status(models.TextChoices):
        TRAINING = "training"
        READY = "ready"
        FAILED = "failed"

    name = models.SlugField(max_length=100, unique=True)
    dataset = models.ForeignKey("retrieval.Dataset", on_delete=models.PROTECT, related_name="rewriter_versions")
    method = models.CharField(max_length=8, choices=Method.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
                               help_text="The version this one was trained from (empty: the base model)")
    base_model = models.CharField(max_length=500, help_text="The model folder or id training started from")
    manifest = models.JSONField(default=dict, blank=True, help_text="Training data: seed pairs by source, queries")
    reward_weights = models.JSONField(default=dict, blank=True, help_text="Reward weights and settings (GRPO)")
    hyperparams = models.JSONField(default=dict, blank=True)
    reward_curves = models.JSONField(default=list, blank=True, help_text="One point per step")
    artifact_path = models.CharField(max_length=500, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Training time and held-out evaluation")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING, db_index=True)
    error = models.TextField(blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    trained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["job", "method"], condition=Q(job__isnull=False),
                                               name="uniq_rewriter_method_per_job")]

    def __str__(self) -> str:
        return self.name
