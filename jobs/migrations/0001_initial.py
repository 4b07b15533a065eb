"""The Job model moves from sbsapp to jobs: state only, the table `sbsapp_job` and its rows stay where they are.
The admin's content type (log entries, permissions) is renamed to follow the model."""

import django.db.models.deletion
import jobs.kinds
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, old="sbsapp", new="jobs"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=new, model="job").exists():
        ContentType.objects.filter(app_label=old, model="job").update(app_label=new)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, old="jobs", new="sbsapp")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sbsapp", "0003_auto_judgments"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[migrations.CreateModel(
            name='Job',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=jobs.kinds.kind_choices, db_index=True, max_length=64)),
                ('task_name', models.CharField(max_length=200)),
                ('queue', models.CharField(default='default', max_length=32)),
                ('config', models.JSONField(blank=True, default=dict)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=16)),
                ('stage', models.CharField(blank=True, max_length=120)),
                ('done', models.PositiveIntegerField(default=0)),
                ('total', models.PositiveIntegerField(default=0)),
                ('counts', models.JSONField(blank=True, default=dict)),
                ('result', models.JSONField(blank=True, default=dict)),
                ('log_tail', models.TextField(blank=True)),
                ('error', models.TextField(blank=True)),
                ('cancel_requested', models.BooleanField(default=False)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'sbsapp_job',
                'ordering': ['-created_at'],
                'indexes': [models.Index(fields=['status', 'heartbeat_at'], name='sbsapp_job_status_903701_idx')],
            },
        )]),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
