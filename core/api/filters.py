"""Query-string filters, validated: a bad value is a 400 that names the parameter, never an ignored filter."""
from __future__ import annotations

from rest_framework import serializers


class StrictQuerySerializer(serializers.Serializer):
    """Rejects parameters it does not know (a typo such as `?campain=3` would otherwise return everything)."""

    allowed_extra = {"page", "page_size", "cursor", "format"}

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields) - self.allowed_extra)
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown query parameter. Allowed: " + ", ".join(sorted(self.fields))] for name in unknown}
            )
        return attrs


def parse_query(serializer_class: type[serializers.Serializer], request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return {key: value for key, value in serializer.validated_data.items() if value not in (None, "")}
