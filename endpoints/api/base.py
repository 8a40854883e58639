"""The base of the API's views under ``/tenants/{tenant}/``: the generic machinery is
``platform_core.api.views.ApiView``; resolving the tenant, with isolation, is this app's."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from endpoints.models import Tenant
from endpoints.selectors import tenant_get
from platform_core.api.views import ApiView


class TenantView(ApiView):
    """A view under ``/tenants/{tenant}/``: the tenant is resolved once, with isolation.

    A tenant key naming any tenant but its own gets the same 404 as a tenant that does not
    exist, so ids and slugs of other tenants cannot be probed.
    """

    _tenant: Tenant | None = None

    @property
    def tenant(self) -> Tenant:
        if self._tenant is None:
            found = tenant_get(key=self.kwargs["tenant"])
            api_key = self.api_key
            if found is None or (not api_key.is_platform and found.pk != api_key.tenant_id):
                raise exceptions.NotFound(f"No tenant {self.kwargs['tenant']!r}.")
            self._tenant = found
        return self._tenant

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Resolve after the permission checks, so that 401 and 403 come before 404.
        _ = self.tenant
