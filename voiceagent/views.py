from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from skillbases.models import Skillbase
from skillbases.schemas import BUILTIN_VARIABLES, ConfigError
from tenancy.scoping import get_for_user


def try_bot(request, pk: int):
    """The admin's "Try this bot" page; the conversation itself runs over a WebSocket."""
    skillbase = get_for_user(Skillbase.objects, request.user, pk)
    try:
        variables = ["name", *skillbase.parsed_config().flow.variables]
        problem = ""
    except ConfigError as exc:
        variables, problem = [], str(exc)
    context = {
        **admin.site.each_context(request),
        "title": _("Try %(name)s") % {"name": skillbase.name},
        "skillbase": skillbase,
        "variables": [v for v in variables if v not in BUILTIN_VARIABLES or v == "name"],
        "problem": problem,
        "opts": Skillbase._meta,
    }
    return TemplateResponse(request, "admin/voiceagent/try_bot.html", context)
