"""What every API request may hit before a view decides anything: a body nested too deep for the
JSON parser, a body over the size limit. Each gets a JSON 4xx naming the problem, never a 500 or
Django's HTML error page."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing a document nested deeper than Python's parser can follow."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the document is nested too deeply.")) from None


def handle_exception(exc, context):
    """DRF's exception handler, plus the request-size limits Django raises while the body is read."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        detail = _("The request body is over the limit of %(limit).1f MB.") % {"limit": limit}
        return Response({"detail": detail}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent):
        return Response({"detail": _("The request has too many fields.")}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)
