from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SkillbasesConfig(AppConfig):
    name = "skillbases"
    verbose_name = _("Skillbases")
