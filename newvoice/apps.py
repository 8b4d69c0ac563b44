from django.apps import AppConfig


class NewVoiceConfig(AppConfig):
    """The project on top of the apps: settings, URLs, ASGI routing, the demo and its commands. It
    owns no models; its migrations are the history of the tenancy models it once held."""

    name = "newvoice"
    verbose_name = "NEW-VOICE"
