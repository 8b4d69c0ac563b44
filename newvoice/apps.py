from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NewVoiceConfig(AppConfig):
    name = "newvoice"
    verbose_name = _("Organizations")
