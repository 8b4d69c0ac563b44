from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from django.db import connections

        from analytics import reports  # registers the SQLite percentile aggregate on new connections

        for connection in connections.all(initialized_only=True):
            if connection.connection is not None:
                reports.register_sqlite_functions(sender=None, connection=connection)
