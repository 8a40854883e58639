"""People who sign in to a tenant's pages: a Django user with a ``Membership`` of the tenant.

Support (the console's tenant page) or an operator (``manage.py create_member``) adds one. A
new user gets either a password given there, or none at all and a one-time set-password link
(Django's password-reset token: it works once, and for ``PASSWORD_RESET_TIMEOUT``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from ..models import Membership, Tenant


@transaction.atomic
def member_add(
    *,
    tenant: Tenant,
    username: str,
    email: str = "",
    role: str = Membership.Role.ADMIN,
    password: str | None = None,
) -> tuple[Any, Membership, bool]:
    """Give ``username`` a membership of ``tenant`` with ``role``, making the user when there
    is none (with ``password``, validated, or none usable until they set one). Returns the
    user, the membership and whether the user is new. An existing user keeps their password;
    a membership they already have takes the new role."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"The role is one of: {', '.join(Membership.Role.values)}."})
    user_model = get_user_model()
    username = user_model.normalize_username((username or "").strip())
    user = user_model.objects.filter(username=username).first()
    created = user is None
    if created:
        user = user_model(username=username, email=user_model.objects.normalize_email(email))
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        if password:
            password_validation.validate_password(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    elif password:
        raise ValidationError(
            {"password": f"{username} already exists; their password is theirs to change."}
        )
    membership, made = Membership.objects.get_or_create(
        user=user, tenant=tenant, defaults={"role": role}
    )
    if not made and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return user, membership, created


def member_set_password_token(*, user: Any) -> tuple[str, str]:
    """The (uidb64, token) of a one-time set-password link for ``user`` (Django's reset token:
    it stops working once the password is set, or after ``PASSWORD_RESET_TIMEOUT``)."""
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
