from django.apps import AppConfig


class WebhooksPlatformConfig(AppConfig):
    name = "webhooks_platform"
    label = "webhooks_platform"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
