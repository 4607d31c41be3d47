from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from topics.schemas import schemas_view

admin.site.site_header = "Billing Kafka operations"
admin.site.site_title = "Billing Kafka operations"
admin.site.index_title = "Cluster mirror and dead letters"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before admin.site.urls, whose catch-all would answer first: the Schema Registry's subjects.
    path("admin/schemas/", admin.site.admin_view(schemas_view), name="topics_schemas"),
    path("admin/", admin.site.urls),
    # /healthz, /readyz and /metrics: the overview app, the one that reads every other.
    path("", include("overview.urls")),
]
