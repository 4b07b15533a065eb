"""Job moved to the jobs app: the proxy and the foreign keys follow it in the state; the tables are unchanged."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_initial'),
        ('synthesis', '0002_rewriter_version'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
            migrations.DeleteModel(name="SynthesisJob"),
            migrations.CreateModel(
                name="SynthesisJob",
                fields=[],
                options={"verbose_name": "synthesis job", "proxy": True, "indexes": [], "constraints": []},
                bases=("jobs.job",),
            ),
            migrations.AlterField(
                model_name='judgeversion',
                name='job',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='jobs.job'),
            ),
            migrations.AlterField(
                model_name='minedquery',
                name='job',
                field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='mined_queries', to='jobs.job'),
            ),
            migrations.AlterField(
                model_name='rewritecandidate',
                name='job',
                field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rewrite_candidates', to='jobs.job'),
            ),
            migrations.AlterField(
                model_name='rewriterversion',
                name='job',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='jobs.job'),
            ),
            migrations.AlterField(
                model_name='syntheticpair',
                name='job',
                field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='synthetic_pairs', to='jobs.job'),
            ),
        ]),
    ]
