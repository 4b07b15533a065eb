"""Admin for the catalogue: data sets, products, queries, logs and labels (read-mostly)."""
from django.contrib import admin

from .models import Dataset, Interaction, Product, Qrel, Query


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "source_format", "license", "imported_at")
    search_fields = ("name",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("product_id", "title", "brand", "category", "price", "dataset")
    list_filter = ("dataset",)
    search_fields = ("product_id", "title", "brand")
    list_select_related = ("dataset",)


@admin.register(Query)
class QueryAdmin(admin.ModelAdmin):
    list_display = ("query_id", "text", "frequency", "segment", "query_type", "dataset")
    list_filter = ("dataset", "segment", "query_type")
    search_fields = ("query_id", "text")


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("query", "product", "impressions", "clicks", "purchases")
    raw_id_fields = ("query", "product")
    list_select_related = ("query", "product")


@admin.register(Qrel)
class QrelAdmin(admin.ModelAdmin):
    list_display = ("query", "product", "grade", "split")
    list_filter = ("split", "grade")
    raw_id_fields = ("query", "product")
    list_select_related = ("query", "product")
