from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VoiceAgentConfig(AppConfig):
    name = "voiceagent"
    verbose_name = _("Voice agent")
