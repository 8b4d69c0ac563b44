"""Organization A's rows, and every API route under /api/ filled with their ids.

Shared by the security sweep and the secrets check. The routes come from the URL resolver, so a new
route is included as soon as it exists; one whose path ids are not known here fills as None.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.regex_helper import normalize

from analytics.api import CallViewSet
from campaigns.api import CallTaskViewSet, CampaignViewSet, DoNotCallViewSet
from campaigns.models import CallRecording, CallTask, Campaign, ContactImport, DoNotCallEntry
from skillbases.api import SkillbaseViewSet
from tenancy.api_invitations import InvitationViewSet, OrganizationInvitationViewSet
from tenancy.api_organizations import MemberViewSet, OrganizationViewSet
from tenancy.api_tokens import ApiTokenViewSet
from tenancy.models import ApiToken, Invitation, Membership
from tests.support.calls import conversation, ended_call

PUBLIC = {"/api/health", "/api/schema/", "/api/docs/", "/api/redoc/"}
PHONE = "+79990001122"  # the number the sweep's writes use; A has a pending contact with it


@dataclass
class World:
    """Organization A's rows, and what of them must never show in B's answers."""

    org: object
    admin: object
    membership: Membership
    skillbase: object
    campaign: Campaign
    call: object
    task: object
    dnc: DoNotCallEntry
    contact_import: ContactImport
    token: ApiToken
    invitation: Invitation  # to a username no account has
    received_invitation: Invitation  # to A's admin
    markers: list[str]


def build_world(org, org_admin, operator, skillbase_factory) -> World:
    skillbase = skillbase_factory(org, name="Zebra-Reminder-A")
    campaign = Campaign.objects.create(organization=org, name="Zebra-Campaign-A", skillbase=skillbase, status=Campaign.Status.PAUSED)
    call = ended_call(campaign, events=conversation(("assistant", "Zebra greeting for A"), ("user", "Zebra answer from A")))
    # Its recording (the bytes are not audio: only who may fetch them is swept).
    recording = CallRecording(organization=org, call=call, started_at=call.answered_at, seconds=1.0, size=9)
    recording.file.save("zebra-a.ogg", ContentFile(b"OggSzebra"), save=True)
    # A pending contact with the number B's writes use: adding it to B's do-not-call list must not touch it.
    CallTask.objects.create(organization=org, campaign=campaign, phone=PHONE, name="Zebra pending contact A")
    dnc = DoNotCallEntry.objects.create(organization=org, phone="+79035550123", reason="Zebra reason A")
    contact_import = ContactImport.objects.create(
        organization=org, campaign=campaign, file="imports/zebra-a.csv", filename="zebra-contacts-a.csv", status="done"
    )
    token, _secret = ApiToken.objects.issue(org_admin, issued_by=org_admin, name="Zebra token A")
    invitation = Invitation(organization=org, username="zebra-invitee-a")
    invitation.send(actor=org_admin)
    # A pending invitation to A's admin, already a member: only they see it under /api/invitations.
    received_invitation = Invitation(organization=org, username=org_admin.username)
    received_invitation.send(actor=org_admin)
    markers = [
        org.name, skillbase.name, campaign.name, call.phone, call.task.name, dnc.phone, dnc.reason, contact_import.filename,
        token.name, token.digest[:12], org_admin.username, operator.username, "Zebra greeting for A", "Zebra answer from A",
        "Zebra pending contact A", invitation.username,
    ]  # fmt: skip
    return World(
        org=org, admin=org_admin, membership=Membership.objects.get(user=operator), skillbase=skillbase, campaign=campaign,
        call=call, task=call.task, dnc=dnc, contact_import=contact_import, token=token, invitation=invitation,
        received_invitation=received_invitation, markers=markers,
    )  # fmt: skip


# Finding and filling the routes

# Which of A's objects a route's ``pk`` names, by the view behind it.
ROUTE_OBJECTS = {
    CampaignViewSet: "campaign",
    SkillbaseViewSet: "skillbase",
    DoNotCallViewSet: "dnc",
    CallViewSet: "call",
    CallTaskViewSet: "task",
    OrganizationViewSet: "org",
    MemberViewSet: "membership",
    ApiTokenViewSet: "token",
    OrganizationInvitationViewSet: "invitation",
    InvitationViewSet: "received_invitation",
}
# Other path ids, the same on every route.
PATH_IDS = {"organization_pk": "org", "import_id": "contact_import"}


@dataclass
class Route:
    regex: str
    pattern: URLPattern

    @property
    def view(self):
        return getattr(self.pattern.callback, "cls", None)

    @property
    def params(self) -> list[str]:
        return normalize(self.regex)[0][1]

    def initkwarg(self, name: str):
        initkwargs = getattr(self.pattern.callback, "initkwargs", {})
        return initkwargs.get(name) or getattr(self.view, name, [])

    def formats(self) -> list[str]:
        """The format suffix that this route renders (csv for the export, else json)."""
        found = [renderer.format for renderer in self.initkwarg("renderer_classes") if renderer.format != "api"]
        return found[:1] or ["json"]

    def takes_json(self) -> bool:
        return any(parser.media_type == "application/json" for parser in self.initkwarg("parser_classes"))

    def path(self, world: World) -> str | None:
        """The route's path with A's ids, or None when a path id is not known here."""
        template, params = normalize(self.regex)[0]
        choices = {}
        for name in params:
            if name == "format":
                choices[name] = [*self.formats(), *(f".{fmt}" for fmt in self.formats())]
            elif name == "pk" and self.view in ROUTE_OBJECTS:
                choices[name] = [getattr(world, ROUTE_OBJECTS[self.view]).pk]
            elif name in PATH_IDS:
                choices[name] = [getattr(world, PATH_IDS[name]).pk]
            else:
                return None
        for values in itertools.product(*choices.values()):
            path = template % dict(zip(choices, values, strict=True))
            if re.fullmatch(self.regex, path):
                return "/" + path
        return None


def api_routes() -> list[Route]:
    def walk(patterns, prefix: str):
        for pattern in patterns:
            regex = prefix + pattern.pattern.regex.pattern.removeprefix("^")
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, regex.removesuffix(r"\Z").removesuffix("$"))
            else:
                yield Route(regex.removesuffix(r"\Z").removesuffix("$"), pattern)

    return [route for route in walk(get_resolver().url_patterns, "") if route.regex.startswith("api/")]
