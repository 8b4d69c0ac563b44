from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from analytics.metrics import on_call_finished
        from campaigns.signals import call_finished

        call_finished.connect(on_call_finished, dispatch_uid="analytics.record_call_metrics")
