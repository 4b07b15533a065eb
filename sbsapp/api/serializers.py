"""Serializers: how API resources look on the wire (read shapes and validated inputs)."""
from rest_framework import serializers

from retrieval.models import RetrieverVersion

from ..models import Job


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    percent = serializers.IntegerField(read_only=True, help_text="Progress of the current stage, 0-100.")
    is_active = serializers.BooleanField(read_only=True, help_text="Queued or running.")

    class Meta:
        model = Job
        fields = [
            "id", "kind", "status", "stage", "done", "total", "percent", "is_active", "counts", "config", "result",
            "error", "log_tail", "cancel_requested", "attempts", "queue", "created_by", "created_at",
            "started_at", "finished_at", "heartbeat_at",
        ]
        read_only_fields = fields


class RetrieverVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    components = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True,
                                              help_text="Versions this one fuses or was trained against.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RetrieverVersion
        fields = [
            "id", "name", "dataset", "kind", "status", "base_model", "components", "manifest", "hyperparams",
            "seed", "metrics", "error", "created_by", "created_at", "built_at",
        ]
        read_only_fields = fields
