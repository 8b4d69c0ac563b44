import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from knox.models import AbstractAuthToken, AuthTokenManager, get_digest_token
from knox.settings import CONSTANTS, knox_settings

from tenancy import audit
from tenancy.validators import validate_timezone


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    OPERATOR = "operator", _("Operator")
    ADMIN = "admin", _("Admin")


# Higher rank includes the rights of the lower ones.
ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def roles_at_least(role: str) -> list[str]:
    return [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[role]]


class Organization(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text=_("Used for reports and as the campaign default."),
    )
    max_concurrent_calls = models.PositiveIntegerField(
        _("max concurrent calls"), default=20, help_text=_("Across all campaigns of the organization.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        db_table = "newvoice_organization"  # the table it had when the project package held the model
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LastAdminError(Exception):
    """Removing or demoting this member would leave the organization without an admin."""

    def __init__(self):
        super().__init__(_("An organization keeps at least one admin: make another member an admin first."))


class MembershipQuerySet(models.QuerySet):
    def administered_by(self, user) -> "MembershipQuerySet":
        """Memberships of the organizations where ``user`` is an admin (every one for a superuser)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(organization_id__in=Membership.objects.filter(user=user, role=Role.ADMIN).values("organization_id"))


class Membership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("organization"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        db_table = "newvoice_membership"  # the table it had when the project package held the model
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.get_role_display()})"

    def add(self, *, actor=None) -> None:
        """Save this new membership: the user joins the organization."""
        with transaction.atomic():
            self.save(force_insert=True)
            AuditEntry.objects.record(
                AuditEntry.Action.MEMBER_ADDED,
                self,
                actor=actor,
                subject_user=self.user,
                after={"user": self.user.get_username(), "role": self.role},
            )

    def change_role(self, role: str, *, actor=None) -> None:
        """Give the member another role; raises LastAdminError rather than leave no admin."""
        with transaction.atomic():
            if role != Role.ADMIN:
                self._refuse_if_last_admin()
            # The stored role, not this copy's: an admin form has already set the new one on it.
            old = Membership.objects.filter(pk=self.pk).values_list("role", flat=True).first()
            Membership.objects.filter(pk=self.pk).update(role=role)
            if old != role:
                AuditEntry.objects.record(
                    AuditEntry.Action.MEMBER_ROLE_CHANGED,
                    self,
                    actor=actor,
                    subject_user=self.user,
                    before={"role": old},
                    after={"role": role},
                )
        self.role = role

    def remove(self, *, actor=None) -> None:
        """Take the user out of the organization; raises LastAdminError rather than leave no admin."""
        with transaction.atomic():
            self._refuse_if_last_admin()
            AuditEntry.objects.record(
                AuditEntry.Action.MEMBER_REMOVED,
                self,
                actor=actor,
                subject_user=self.user,
                before={"user": self.user.get_username(), "role": self.role},
            )
            self.delete()

    def _refuse_if_last_admin(self) -> None:
        # The admins' rows stay locked until the change commits: two admins demoting each other at
        # once are serialised, and the second one sees that only one admin is left.
        admins = list(
            Membership.objects.select_for_update()
            .filter(organization_id=self.organization_id, role=Role.ADMIN)
            .values_list("pk", flat=True)
        )
        if admins == [self.pk]:
            raise LastAdminError()


class InvitationError(Exception):
    """The invitation cannot be answered or revoked; the message says why."""


class InvitationQuerySet(models.QuerySet):
    def for_user(self, user, *, role: str = Role.ADMIN) -> "InvitationQuerySet":
        """The invitations ``user`` manages: those of the organizations where they hold ``role``
        (every one for a superuser). Not the ones addressed to them: see ``addressed_to``."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        organizations = Membership.objects.filter(user=user, role__in=roles_at_least(role)).values("organization_id")
        return self.filter(organization_id__in=organizations)

    def addressed_to(self, user) -> "InvitationQuerySet":
        """The invitations of ``user``'s username, in whatever case the inviting admin typed it, unless
        another account's username differs from it only in case: then only the exact spelling."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        username = user.get_username()
        User = get_user_model()
        lookalike = User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exclude(pk=user.pk).exists()
        return self.filter(username=username) if lookalike else self.filter(username__iexact=username)

    def pending(self) -> "InvitationQuerySet":
        """Waiting for an answer, expired or not."""
        return self.filter(status=Invitation.Status.PENDING)

    def answerable(self, now: dt.datetime | None = None) -> "InvitationQuerySet":
        return self.pending().filter(expires_at__gt=now or timezone.now())


class Invitation(models.Model):
    """An invitation to join an organization, addressed to a username, that the account with that
    username accepts or declines. Inviting never looks the username up: an admin must not learn from
    it whether an account exists, so an invitation to nobody is kept and listed like any other."""

    class Status(models.TextChoices):
        # In context: a call's "Declined" (the callee hung up) is another word in Russian.
        PENDING = "pending", pgettext_lazy("invitation status", "Pending")
        ACCEPTED = "accepted", pgettext_lazy("invitation status", "Accepted")
        DECLINED = "declined", pgettext_lazy("invitation status", "Declined")
        REVOKED = "revoked", pgettext_lazy("invitation status", "Revoked")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("organization"))
    username = models.CharField(
        _("username"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text=_("The username of the account to invite, in any case. The account joins once it accepts."),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("invited by")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One pending invitation per username and organization: inviting again refreshes it.
            # UPPER is what ``iexact`` compares on PostgreSQL, so the invitee's lookup uses this index.
            models.UniqueConstraint(Upper("username"), "organization", condition=models.Q(status="pending"), name="invitation_one_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.username} → {self.organization}"

    def send(self, *, actor=None) -> None:
        """Save this new invitation, valid for ``NEWVOICE_INVITATION_DAYS``. When one to the same
        username is still pending here, that one is refreshed instead (this one takes its id)."""
        try:
            self._send(actor=actor)
        except IntegrityError:
            # Another request invited the same username a moment ago: refresh that one.
            self.pk = None
            self._send(actor=actor)

    def _send(self, *, actor) -> None:
        self.created_by = actor if getattr(actor, "is_authenticated", False) else None
        self.expires_at = timezone.now() + dt.timedelta(days=settings.NEWVOICE_INVITATION_DAYS)
        with transaction.atomic():
            pending = (
                Invitation.objects.select_for_update()
                .pending()
                .filter(organization_id=self.organization_id, username__iexact=self.username)
                .first()
            )
            if pending is None:
                before = {}
                self.save(force_insert=True)
            else:
                before = pending._audit_fields()
                self.pk, self.created_at = pending.pk, pending.created_at
                self.save(update_fields=["username", "role", "created_by", "expires_at"])
            # No subject account: whether one has this username stays unknown to the log's readers too.
            AuditEntry.objects.record(AuditEntry.Action.MEMBER_INVITED, self, actor=actor, before=before, after=self._audit_fields())

    def close(self, status: str, *, actor=None) -> None:
        """Mark the invitation accepted, declined (by its invitee) or revoked (by an admin), and log it.
        Raises InvitationError, saying why, when it is no longer open to that: an expired invitation
        can still be revoked, not answered. Accepting adds the member: ``actions.accept_invitation``."""
        open_ones = Invitation.objects.pending() if status == self.Status.REVOKED else Invitation.objects.answerable()
        now = timezone.now()
        with transaction.atomic():
            # A conditional update: of two answers at once (accept and revoke, say), only one applies.
            if open_ones.filter(pk=self.pk).update(status=status, answered_at=now) != 1:
                self.refresh_from_db(fields=["status", "expires_at", "answered_at"])
                raise InvitationError(self.closed_reason())
            self.status, self.answered_at = status, now
            # The invitee is the account concerned once they answer; a revocation names no account.
            action = {
                self.Status.ACCEPTED: AuditEntry.Action.INVITATION_ACCEPTED,
                self.Status.DECLINED: AuditEntry.Action.INVITATION_DECLINED,
                self.Status.REVOKED: AuditEntry.Action.INVITATION_REVOKED,
            }[status]
            AuditEntry.objects.record(
                action,
                self,
                actor=actor,
                subject_user=None if status == self.Status.REVOKED else actor,
                before={"status": self.Status.PENDING},
                after={"status": status, **self._audit_fields()},
            )

    def closed_reason(self) -> str:
        if self.status == self.Status.REVOKED:
            return _("This invitation has been revoked.")
        if self.status != self.Status.PENDING:
            return _("This invitation has already been answered.")
        return _("This invitation has expired: ask an admin of the organization to invite you again.")

    def _audit_fields(self) -> dict:
        return {"username": self.username, "role": self.role, "expires_at": self.expires_at}


class ReceivedInvitation(Invitation):
    """The invitations addressed to the signed-in account, as the admin lists them for an answer."""

    class Meta:
        proxy = True
        verbose_name = _("your invitation")
        verbose_name_plural = _("your invitations")


def managed_users(user) -> models.QuerySet:
    """The active accounts whose API tokens ``user`` may see, issue and revoke: their own, and every
    member's of the organizations they administer (everyone's for a superuser)."""
    users = get_user_model().objects.filter(is_active=True)
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return users.none()
    if user.is_superuser:
        return users
    return users.filter(models.Q(pk=user.pk) | models.Q(pk__in=Membership.objects.administered_by(user).values("user_id")))


class ApiTokenQuerySet(models.QuerySet):
    def unexpired(self, now: dt.datetime | None = None) -> "ApiTokenQuerySet":
        return self.filter(models.Q(expiry__isnull=True) | models.Q(expiry__gt=now or timezone.now()))

    def for_user(self, user) -> "ApiTokenQuerySet":
        """The tokens ``user`` may see and revoke: see ``managed_users``."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(models.Q(user=user) | models.Q(user_id__in=Membership.objects.administered_by(user).values("user_id")))


class ApiTokenManager(AuthTokenManager.from_queryset(ApiTokenQuerySet)):
    def issue(self, user, *, name: str = "", days: int | None = None, issued_by=None) -> tuple["ApiToken", str]:
        """A new token for ``user`` and its secret, which is never stored and cannot be shown again."""
        token = self.model(user=user, name=name)
        return token, token.issue(days=days, issued_by=issued_by)


class ApiToken(AbstractAuthToken):
    """A django-rest-knox token with a name: only a SHA-512 digest of the secret is stored, and
    every token expires (``REST_KNOX["TOKEN_TTL"]`` unless asked otherwise). Revoking is deleting."""

    # Knox keys its tokens by the digest; an ordinary id gives the API and the admin a short,
    # meaningless handle, so that no part of the digest or the secret ends up in a URL.
    digest = models.CharField(_("digest"), max_length=CONSTANTS.DIGEST_LENGTH, unique=True, editable=False)
    # Knox finds a presented token among the few that share its first characters (the prefix and
    # part of the secret); that is not enough to use the token.
    token_key = models.CharField(
        _("lookup key"), max_length=CONSTANTS.MAXIMUM_TOKEN_PREFIX_LENGTH + CONSTANTS.TOKEN_KEY_LENGTH, db_index=True, editable=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_token_set", verbose_name=_("user"))
    created = models.DateTimeField(_("issued"), auto_now_add=True)
    expiry = models.DateTimeField(_("expires"), null=True, blank=True)
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("What the token is for, e.g. “CRM sync”."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("issued by")
    )

    objects = ApiTokenManager()

    class Meta:
        db_table = "newvoice_apitoken"  # the table it had when the project package held the model
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name or f"{self.digest_prefix}…"

    @property
    def digest_prefix(self) -> str:
        return self.digest[:12]

    @property
    def is_expired(self) -> bool:
        return self.expiry is not None and self.expiry <= timezone.now()

    def issue(self, *, days: int | None = None, issued_by=None) -> str:
        """Save this new token with a fresh secret and return the secret."""
        digest, secret = get_digest_token()
        self.digest, self.token_key = digest, secret[: CONSTANTS.TOKEN_KEY_LENGTH]
        self.expiry = timezone.now() + (dt.timedelta(days=days) if days else knox_settings.TOKEN_TTL)
        self.created_by = issued_by
        with transaction.atomic():
            self.save(force_insert=True)
            AuditEntry.objects.record(
                AuditEntry.Action.TOKEN_ISSUED,
                self,
                actor=issued_by,
                subject_user=self.user,
                object_repr=self.audit_name,
                after=self._audit_fields(),
            )
        return secret

    def revoke(self, *, actor=None) -> None:
        """Delete the token: it stops working at once."""
        with transaction.atomic():
            AuditEntry.objects.record(
                AuditEntry.Action.TOKEN_REVOKED,
                self,
                actor=actor,
                subject_user=self.user,
                object_repr=self.audit_name,
                before=self._audit_fields(),
            )
            self.delete()

    @property
    def audit_name(self) -> str:
        # Not str(self): an unnamed token is shown by its digest's prefix, which the log must not keep.
        return f"{self.name or f'#{self.pk}'} ({self.user.get_username()})"

    def _audit_fields(self) -> dict:
        return {"user": self.user.get_username(), "name": self.name, "expiry": self.expiry}


class AuditEntryQuerySet(models.QuerySet):
    def record(
        self,
        action: str,
        obj: models.Model | None = None,
        *,
        actor=None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str = "",
        source: str | None = None,
        organization_id: int | None = None,
        subject_user=None,
        object_type: str = "",
        object_repr: str | None = None,
    ) -> "AuditEntry":
        """Write one audit entry for ``action`` on ``obj``. Call it inside the change's transaction,
        before a deletion (the object still has its id). Where the change came from is the
        current door's (``tenancy.audit.door``), else a command's if someone acted, else the system's."""
        if actor is not None and not getattr(actor, "is_authenticated", False):
            actor = None
        current = audit.current_door()
        if source is None:
            source = current.source if current else audit.COMMAND if actor else audit.SYSTEM
        if organization_id is None and obj is not None:
            organization_id = getattr(obj, "organization_id", None)
        return self.create(
            organization_id=organization_id,
            actor=actor,
            actor_name=actor.get_username() if actor else "",
            subject_user=subject_user,
            action=action,
            object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
            object_id="" if obj is None or obj.pk is None else str(obj.pk),
            object_repr=(str(obj) if object_repr is None and obj is not None else object_repr or "")[:200],
            before=audit.without_secrets(before),
            after=audit.without_secrets(after),
            reason=str(reason)[:500],
            source=source,
            ip=current.ip if current and current.source == source else None,
        )

    def for_user(self, user, *, role: str = Role.ADMIN) -> "AuditEntryQuerySet":
        """The entries ``user`` may read: those of the organizations where they hold ``role``, and
        of account-level changes (tokens) that they made, that concern them, or that concern a
        member of an organization they administer. Superusers read everything."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        organizations = Membership.objects.filter(user=user, role__in=roles_at_least(role)).values("organization_id")
        members = Membership.objects.administered_by(user).values("user_id")
        own = models.Q(actor=user) | models.Q(subject_user=user) | models.Q(subject_user__in=members)
        return self.filter(models.Q(organization_id__in=organizations) | models.Q(organization__isnull=True) & own)


class AuditEntry(models.Model):
    """Who changed what, when, from where, and the changed fields before and after. Written by
    ``AuditEntry.objects.record`` in the transaction of the change; never edited or deleted."""

    class Action(models.TextChoices):
        SKILLBASE_CREATED = "skillbase_created", _("Skillbase created")
        SKILLBASE_CHANGED = "skillbase_changed", _("Skillbase changed")
        CAMPAIGN_STARTED = "campaign_started", _("Campaign started")
        TESTS_OVERRIDDEN = "tests_overridden", _("Started despite failing test conversations")
        CAMPAIGN_PAUSED = "campaign_paused", _("Campaign paused")
        CAMPAIGN_RESUMED = "campaign_resumed", _("Campaign resumed")
        CAMPAIGN_CANCELLED = "campaign_cancelled", _("Campaign cancelled")
        CAMPAIGN_COMPLETED = "campaign_completed", _("Campaign completed")
        DNC_ADDED = "dnc_added", _("Do-not-call number added")
        DNC_CHANGED = "dnc_changed", _("Do-not-call entry changed")
        DNC_REMOVED = "dnc_removed", _("Do-not-call number removed")
        DNC_IMPORTED = "dnc_imported", _("Do-not-call list imported")
        TOKEN_ISSUED = "token_issued", _("API token issued")
        TOKEN_REVOKED = "token_revoked", _("API token revoked")
        MEMBER_ADDED = "member_added", _("Member added")
        MEMBER_ROLE_CHANGED = "member_role_changed", _("Member's role changed")
        MEMBER_REMOVED = "member_removed", _("Member removed")
        MEMBER_INVITED = "member_invited", _("Member invited")
        INVITATION_ACCEPTED = "invitation_accepted", _("Invitation accepted")
        INVITATION_DECLINED = "invitation_declined", _("Invitation declined")
        INVITATION_REVOKED = "invitation_revoked", _("Invitation revoked")

    class Source(models.TextChoices):
        ADMIN = audit.ADMIN, pgettext_lazy("audit source: the admin site", "Admin")
        API = audit.API, _("API")
        COMMAND = audit.COMMAND, _("Command")
        SYSTEM = audit.SYSTEM, _("System")

    # The log outlives what it describes: deleting an organization or an account keeps its entries.
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("organization")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("who")
    )
    actor_name = models.CharField(_("who (username)"), max_length=150, blank=True, help_text=_("Kept when the account is deleted."))
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account concerned"),
        help_text=_("The owner of the token, or the member."),
    )
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(_("after"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        db_table = "newvoice_auditentry"  # the table it had when the project package held the model
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [
            # An organization's log, newest first: the admin's list for everyone but superusers.
            models.Index(fields=["organization", "-created_at"], name="audit_org_created_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("An audit entry cannot be changed.")
        super().save(*args, **kwargs)
