from django.apps import AppConfig


class DeliveriesConfig(AppConfig):
    name = "deliveries"
    verbose_name = "Events and deliveries"

    def ready(self) -> None:
        from deliveries.destinations import load_kinds

        load_kinds()  # every destination kind registers with endpoints.destinations
