from django.apps import AppConfig


class WebhooksPlatformConfig(AppConfig):
    name = "webhooks_platform"
    label = "webhooks_platform"

    def ready(self) -> None:
        from endpoints.models import ApiKey
        from platform_core.api.permissions import api_key_type_register

        from . import checks  # noqa: F401  (registers the system checks)

        # The plumbing imports no app: it is told here which ``request.auth`` is an API key.
        api_key_type_register(ApiKey)
