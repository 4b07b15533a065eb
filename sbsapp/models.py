"""State of the SBS app: campaigns, frozen items, reservations, judgments and automatic judgments."""
from django.conf import settings
from django.db import models

from jobs.models import Job


# --------------------------------------------------------------------------------------------------------------
# SBS evaluation: campaigns, frozen items, reservations and judgments.
# --------------------------------------------------------------------------------------------------------------


def new_item_token() -> str:
    """An opaque, unguessable reference for an item: it says nothing about order, query or system."""
    import secrets

    return secrets.token_urlsafe(16)


def new_shuffle_key() -> int:
    import secrets

    return secrets.randbelow(2**31)


class Campaign(models.Model):
    """A blind side-by-side comparison of system A (baseline) and system B (treatment) on a query sample."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        GENERATING = "generating"
        ACTIVE = "active"
        CLOSED = "closed"

    class IdenticalLists(models.TextChoices):
        HIDE = "hide", "Mark and do not show"
        CONTROL = "control", "Show as A-vs-A controls"

    class Allocation(models.TextChoices):
        PROPORTIONAL = "proportional", "Proportional to the data set (segment × query type)"
        EQUAL_SEGMENTS = "equal_segments", "An equal share per segment (the tail as well represented as the head)"

    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown, shown to annotators (rendered safely).")
    system_a = models.ForeignKey(
        "retrieval.RetrieverVersion", on_delete=models.PROTECT, related_name="campaigns_as_a",
        help_text="Baseline (control).",
    )
    system_b = models.ForeignKey(
        "retrieval.RetrieverVersion", on_delete=models.PROTECT, related_name="campaigns_as_b",
        help_text="Treatment: G/S/B are counted from its point of view.",
    )
    segments = models.JSONField(default=list, blank=True, help_text="Query segments to sample (empty: all).")
    query_types = models.JSONField(default=list, blank=True, help_text="Query types to sample (empty: all).")
    allocation = models.CharField(max_length=16, choices=Allocation.choices, default=Allocation.PROPORTIONAL,
                                  help_text="How the sample is spread over the strata.")
    sample_size = models.PositiveIntegerField(default=100)
    seed = models.IntegerField(default=13)
    k = models.PositiveSmallIntegerField("results per side", default=10)
    judgments_per_item = models.PositiveSmallIntegerField(default=3)
    control_share = models.FloatField(
        default=0.1, help_text="Share of sampled queries turned into A-vs-A control items (0 to 0.5)."
    )
    identical_lists = models.CharField(max_length=8, choices=IdenticalLists.choices, default=IdenticalLists.CONTROL)
    reservation_minutes = models.PositiveSmallIntegerField(
        default=10, help_text="How long an item served to an annotator stays reserved for them."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # The plan (sbsapp/planning.py) and sequential stopping (sbsapp/sequential.py).
    plan_min_delta = models.FloatField(
        null=True, blank=True, help_text="Smallest ΔGSB worth detecting (empty: no plan, no 'no difference' verdict).")
    plan_alpha = models.FloatField(default=0.05, help_text="Significance level of the plan and of the sequential "
                                                           "verdict (its false-stop rate under peeking).")
    plan_power = models.FloatField(default=0.8, help_text="Power the plan sizes the campaign for.")
    plan = models.JSONField(default=dict, blank=True, help_text="The planned size and what it rests on (planning.py).")
    auto_close = models.BooleanField(default=False, help_text="Close the campaign as soon as the sequential verdict "
                                                              "says it can stop.")
    closed_by_verdict = models.CharField(max_length=32, blank=True,
                                         help_text="The sequential verdict that closed the campaign automatically.")
    generation_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="sbs_campaigns")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(system_a=models.F("system_b")), name="sbs_two_distinct_systems"),
            models.CheckConstraint(condition=models.Q(k__gte=1, k__lte=100), name="sbs_k_1_to_100"),
            models.CheckConstraint(condition=models.Q(judgments_per_item__gte=1), name="sbs_at_least_one_judgment"),
            models.CheckConstraint(condition=models.Q(control_share__gte=0, control_share__lte=0.5),
                                   name="sbs_control_share_0_to_half"),
            models.CheckConstraint(condition=models.Q(sample_size__gte=1), name="sbs_sample_not_empty"),
            models.CheckConstraint(condition=models.Q(plan_alpha__gt=0, plan_alpha__lt=1, plan_power__gt=0,
                                                      plan_power__lt=1), name="sbs_plan_levels_0_to_1"),
        ]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """One query of a campaign with both result lists frozen at generation time.

    `b_on_left` is the blinding: it is decided at random per item, kept on the server, and never rendered to an
    annotator. Annotators reach an item only through its random `token`.
    """

    class Kind(models.TextChoices):
        REGULAR = "regular"
        GOLD = "gold", "Gold (expected preference set by an analyst)"
        AA = "aa", "A-vs-A (same list on both sides)"

    CONTROL_KINDS = (Kind.GOLD, Kind.AA)

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    token = models.CharField(max_length=32, unique=True, default=new_item_token, editable=False)
    query = models.ForeignKey("retrieval.Query", on_delete=models.PROTECT, related_name="sbs_items")
    query_text = models.CharField(max_length=500)
    segment = models.CharField(max_length=8, blank=True)
    query_type = models.CharField(max_length=16, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.REGULAR)
    b_on_left = models.BooleanField(help_text="Blinding: system B's list is shown on the left. Server-side only.")
    # Product snapshots, in rank order: [{"product": pk, "product_id", "title", "brand", "category", "price",
    # "description", "score"}]. For an A-vs-A item both hold the same list (that of `aa_source`).
    results_a = models.JSONField(default=list)
    results_b = models.JSONField(default=list)
    aa_source = models.CharField(max_length=1, blank=True, help_text="A-vs-A: whose list is on both sides (a/b).")
    identical = models.BooleanField(default=False, help_text="The two systems returned the same list.")
    short_lists = models.BooleanField(
        default=False, help_text="A system returned fewer than K results: never shown (inactive), because the "
                                 "shorter list would tell the annotator which system it is.")
    is_active = models.BooleanField(default=True, help_text="Served to annotators.")
    expected_preference = models.SmallIntegerField(
        null=True, blank=True, help_text="Gold / A-vs-A: the expected preference toward B (-2..+2)."
    )
    judgments_count = models.PositiveIntegerField(default=0, help_text="Non-skipped judgments (denormalised).")
    shuffle_key = models.PositiveIntegerField(default=new_shuffle_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "shuffle_key"]
        indexes = [models.Index(fields=["campaign", "is_active", "judgments_count", "shuffle_key"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expected_preference__isnull=True)
                | models.Q(expected_preference__gte=-2, expected_preference__lte=2),
                name="sbs_expected_preference_range",
            ),
            models.UniqueConstraint(fields=["campaign", "query"], name="sbs_one_item_per_query"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.query_text}"

    @property
    def is_control(self) -> bool:
        return self.kind in self.CONTROL_KINDS

    def lists_left_right(self) -> tuple[list, list]:
        return (self.results_b, self.results_a) if self.b_on_left else (self.results_a, self.results_b)


class Reservation(models.Model):
    """An item served to an annotator and held for them until `expires_at`; it counts toward the item's load."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reservations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sbs_reservations")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reservations")
    served_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "annotator"], name="sbs_one_reservation_per_annotator")]
        indexes = [models.Index(fields=["item", "expires_at"]), models.Index(fields=["annotator", "campaign"])]


class Judgment(models.Model):
    """One annotator's verdict on one item (or their skip of it).

    `choice` is what they clicked, in screen terms; `preference` is that choice turned toward system B
    (+2 = B much better, -2 = A much better), which is what every metric uses.
    """

    class Choice(models.IntegerChoices):
        LEFT_MUCH_BETTER = -2, "Left much better"
        LEFT_BETTER = -1, "Left better"
        SAME = 0, "About the same"
        RIGHT_BETTER = 1, "Right better"
        RIGHT_MUCH_BETTER = 2, "Right much better"

    class Reason(models.TextChoices):
        RELEVANCE = "relevance"
        INTENT = "intent", "Knowledge / intent match"
        DIVERSITY = "diversity"
        MISSING = "missing", "Missing key product"
        OTHER = "other"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgments")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="judgments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sbs_judgments")
    skipped = models.BooleanField(default=False)
    choice = models.SmallIntegerField(choices=Choice.choices, null=True, blank=True)
    preference = models.SmallIntegerField(null=True, blank=True, help_text="Toward system B, -2..+2.")
    b_on_left = models.BooleanField(help_text="Copy of the item's side assignment when judged (for exports).")
    # {"<product pk>": grade 0..3}: optional per-product relevance marks.
    marks = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    time_on_item_ms = models.PositiveIntegerField(null=True, blank=True)
    submit_key = models.CharField(max_length=64, help_text="Idempotency key of the form that created it.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["campaign", "annotator", "created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="sbs_one_judgment_per_annotator"),
            models.UniqueConstraint(fields=["annotator", "submit_key"], name="sbs_idempotent_submit"),
            models.CheckConstraint(
                condition=models.Q(skipped=True, choice__isnull=True, preference__isnull=True)
                | models.Q(skipped=False, choice__gte=-2, choice__lte=2, preference__gte=-2, preference__lte=2),
                name="sbs_choice_present_unless_skipped",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on {self.item_id}: {'skip' if self.skipped else self.preference}"


class AutoJudgment(models.Model):
    """A judge model's verdict on one item (automatic SBS), kept apart from the human `Judgment` rows.

    The judge is blinded like an annotator: it is shown the two lists on random sides (`b_on_left`, drawn per
    judge and item) and answers in screen terms (`choice`); `preference` is that answer turned toward system B
    exactly as for humans. No human metric ever reads this table.
    """

    class Kind(models.TextChoices):
        DCG = "dcg", "Relevance judge, DCG difference"
        LLM = "llm", "LLM list comparison"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="auto_judgments")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="auto_judgments")
    judge_kind = models.CharField(max_length=8, choices=Kind.choices)
    judge_name = models.CharField(max_length=200, help_text="The judge version's name or the LLM's model name.")
    judge_version = models.ForeignKey("synthesis.JudgeVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    b_on_left = models.BooleanField(help_text="The side the judge was shown system B on (drawn at random).")
    choice = models.SmallIntegerField(choices=Judgment.Choice.choices, help_text="Screen terms, -2..+2.")
    preference = models.SmallIntegerField(help_text="Toward system B, -2..+2.")
    # {"a": [score per product in rank order], "b": [...]} for judges that score products (empty for the LLM).
    product_scores = models.JSONField(default=dict, blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="DCG values, the raw LLM answer, settings.")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "item"]
        indexes = [models.Index(fields=["campaign", "judge_kind", "judge_name"])]
        constraints = [
            models.UniqueConstraint(fields=["item", "judge_kind", "judge_name"], name="sbs_one_auto_judgment_per_judge"),
            models.CheckConstraint(condition=models.Q(choice__gte=-2, choice__lte=2, preference__gte=-2,
                                                      preference__lte=2), name="sbs_auto_choice_range"),
        ]

    def __str__(self) -> str:
        return f"{self.judge_kind}:{self.judge_name} on {self.item_id}: {self.preference}"


class Adjudication(models.Model):
    """A reviewer's final verdict on an item its annotators disagreed on (a split verdict) or a failed control.

    The reviewer is blinded like the annotators: they answer in screen terms (`choice`, on the item's own sides)
    and `preference` is that answer turned toward system B. It feeds the "adjudicated" view of the metrics only;
    the raw metrics never read this table. One per item; recording again revises it.
    """

    class Reason(models.TextChoices):
        SPLIT = "split", "Split verdict"
        FAILED_CONTROL = "failed_control", "Failed control"

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="adjudication")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="adjudications")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="sbs_adjudications")
    reason = models.CharField(max_length=16, choices=Reason.choices, help_text="Why the item was in the queue.")
    choice = models.SmallIntegerField(choices=Judgment.Choice.choices, help_text="Screen terms, -2..+2.")
    preference = models.SmallIntegerField(help_text="The final verdict toward system B, -2..+2.")
    b_on_left = models.BooleanField(help_text="Copy of the item's side assignment the reviewer saw.")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "item"]
        constraints = [
            models.CheckConstraint(condition=models.Q(choice__gte=-2, choice__lte=2, preference__gte=-2,
                                                      preference__lte=2), name="sbs_adjudication_range"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.item_id}: {self.preference}"
