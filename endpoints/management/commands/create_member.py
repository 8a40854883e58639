"""Add a person who signs in to a tenant's pages (a user with a membership of the tenant)."""

import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from endpoints.models import Membership
from endpoints.selectors import tenant_get
from endpoints.services.members import member_add, member_set_password_token

from ._output import add_json_flag, emit, fail


class Command(BaseCommand):
    help = (
        "Make USERNAME a member of TENANT (admin by default) and print a one-time link where "
        "they set their password; or give the password on stdin with --password-stdin. An "
        "existing user is added with the password they have."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tenant", help="slug or id of the tenant")
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--role", choices=Membership.Role.values, default=Membership.Role.ADMIN)
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the new user's password from stdin (never from the command line)",
        )
        parser.add_argument(
            "--base-url",
            default=f"http://127.0.0.1:{os.environ.get('PORT') or 8000}",
            help="the dashboard's address, for the set-password link (default: this machine's)",
        )
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_get(key=options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}.")
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("--password-stdin: no password on stdin.")
        try:
            user, membership, created = member_add(
                tenant=tenant,
                username=options["username"],
                email=options["email"],
                role=options["role"],
                password=password,
            )
        except ValidationError as exc:
            raise fail(exc) from exc
        link = ""
        if not user.has_usable_password():
            uidb64, token = member_set_password_token(user=user)
            path = reverse("member-set-password", args=[uidb64, token])
            link = options["base_url"].rstrip("/") + path
        what = "new user" if created else "existing user"
        text = f"{user.get_username()} ({what}) is a {membership.role} of tenant {tenant.slug}."
        if link:
            text += f"\nSet-password link (works once, for a limited time):\n{link}"
        emit(
            self,
            options,
            {
                "username": user.get_username(),
                "tenant": tenant.slug,
                "role": membership.role,
                "created": created,
                "set_password_link": link or None,
            },
            text,
        )
