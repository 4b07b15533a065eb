"""Job moved to the jobs app (state only: the table sbsapp_job and its rows stay)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('synthesis', '0003_job_moved_to_jobs'),
        ('retrieval', '0004_job_moved_to_jobs'),
        ('jobs', '0001_initial'),
        ('sbsapp', '0003_auto_judgments'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
            migrations.AlterField(
                model_name='autojudgment',
                name='job',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='jobs.job'),
            ),
            migrations.AlterField(
                model_name='campaign',
                name='generation_job',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='jobs.job'),
            ),
            migrations.DeleteModel(name='Job'),
        ]),
    ]
