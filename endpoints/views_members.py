"""Support adds the people who sign in to a tenant's pages (staff only, audited), and a new
member sets a password through the one-time link they were given."""

from __future__ import annotations

from django import forms
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from endpoints.dashboard import audit
from platform_core.dashboard import staff_view

from .models import Membership, Tenant
from .selectors import tenant_get
from .services.members import member_add, member_set_password_token


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ADMIN)


def set_password_url(request: HttpRequest, user: object) -> str:
    uidb64, token = member_set_password_token(user=user)
    return request.build_absolute_uri(reverse("member-set-password", args=[uidb64, token]))


def _tenant_or_404(tenant_key: str) -> Tenant:
    tenant = tenant_get(key=tenant_key)
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


@never_cache
@require_http_methods(["GET", "POST"])
@staff_view
def support_members(request: HttpRequest, tenant_key: str) -> HttpResponse:
    """A tenant's members, and adding one: a new user gets a one-time set-password link,
    shown in this response only (support hands it over); an existing user is added as is."""
    tenant = _tenant_or_404(tenant_key)
    form = MemberForm(request.POST or None)
    added = None
    if request.method == "POST" and form.is_valid():
        try:
            user, membership, created = member_add(tenant=tenant, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            audit(
                request,
                action="member.add",
                tenant=tenant,
                target=membership,
                details={"username": user.get_username(), "role": membership.role},
            )
            added = {
                "user": user,
                "membership": membership,
                "created": created,
                "link": set_password_url(request, user) if not user.has_usable_password() else "",
            }
            form = MemberForm()
    members = (
        Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")
    )
    return render(
        request,
        "support/members.html",
        {"tenant": tenant, "form": form, "added": added, "members": members, "section": "support"},
    )


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """Django's own reset-confirm view: the token works once; the member is then signed in."""

    template_name = "registration/set_password.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("dashboard-home")
