"""Workflows of the tenancy app that touch several models."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from tenancy.models import Invitation, InvitationError, Membership


def accept_invitation(invitation: Invitation, user) -> Membership:
    """``user``, the account the invitation is addressed to, joins its organization with its role.
    Raises InvitationError, saying why, when the invitation is no longer open or ``user`` is a member
    already; the invitation then stays as it was, and may still be declined."""
    try:
        with transaction.atomic():
            invitation.close(Invitation.Status.ACCEPTED, actor=user)
            member = Membership(organization_id=invitation.organization_id, user=user, role=invitation.role)
            member.add(actor=user)
    except IntegrityError:
        # The membership's unique constraint: a member already, or added by a superuser a moment ago.
        invitation.refresh_from_db(fields=["status", "answered_at"])
        raise InvitationError(_("You are already a member of this organization.")) from None
    return member
