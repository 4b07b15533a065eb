# Written for the Adjudication model (reviewers' final verdicts on split items and failed controls).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sbsapp", "0007_campaign_plan"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Adjudication",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("reason", models.CharField(choices=[("split", "Split verdict"), ("failed_control", "Failed control")],
                                            help_text="Why the item was in the queue.", max_length=16)),
                ("choice", models.SmallIntegerField(
                    choices=[(-2, "Left much better"), (-1, "Left better"), (0, "About the same"),
                             (1, "Right better"), (2, "Right much better")],
                    help_text="Screen terms, -2..+2.")),
                ("preference", models.SmallIntegerField(help_text="The final verdict toward system B, -2..+2.")),
                ("b_on_left", models.BooleanField(help_text="Copy of the item's side assignment the reviewer saw.")),
                ("comment", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("campaign", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                               related_name="adjudications", to="sbsapp.campaign")),
                ("item", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                              related_name="adjudication", to="sbsapp.item")),
                ("reviewer", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                               related_name="sbs_adjudications", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "ordering": ["campaign", "item"],
                "constraints": [models.CheckConstraint(
                    condition=models.Q(("choice__gte", -2), ("choice__lte", 2), ("preference__gte", -2),
                                       ("preference__lte", 2)),
                    name="sbs_adjudication_range")],
            },
        ),
    ]
