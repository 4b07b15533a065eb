"""Background jobs shared by every app: one row per run of a long task (import, training, synthesis, ...)."""
from django.conf import settings
from django.db import models

from .kinds import kind_choices


class Job(models.Model):
    """One run of a long task (import, training, synthesis, campaign generation, ...).

    Every long Celery task updates its Job row: that is what the progress bars, the jobs page and the API read.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(max_length=64, db_index=True, choices=kind_choices)
    task_name = models.CharField(max_length=200)
    queue = models.CharField(max_length=32, default="default")
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=120, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        db_table = "sbsapp_job"  # the table predates the jobs app; kept so existing data stays
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="sbsapp_job_status_903701_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def progress(self) -> float:
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def percent(self) -> int:
        return round(100 * self.progress)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def count_pairs(self) -> list[tuple[str, object]]:
        """`counts` as pairs: a template cannot loop over `counts.items` when a count is named "items"."""
        return list(self.counts.items())


class JobShard(models.Model):
    """One chunk of a sharded step of a job (`jobs.shards`): any worker may claim and run it, its parent job waits
    for all of them and sums their progress. A shard that failed, or whose worker died (stale heartbeat), is run
    again alone."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="shards")
    step = models.CharField(max_length=64)
    index = models.PositiveIntegerField()
    spec = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "step", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "step", "index"], name="jobs_shard_unique_index")]

    def __str__(self) -> str:
        return f"{self.step} shard {self.index} of job #{self.job_id} ({self.status})"
