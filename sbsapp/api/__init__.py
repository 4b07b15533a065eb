"""The REST API (Django REST framework): serializers, permissions, views, streaming export, OpenAPI docs."""
