from django.db import migrations, models

# The operational webhooks' types as the platform created them (their description says so); a
# product's own type of the same name keeps its place in the catalogue.
OPERATIONAL = [
    "endpoint.disabled",
    "endpoint.enabled",
    "endpoint.circuit_opened",
    "endpoint.circuit_closed",
    "delivery.exhausted",
]


def mark_operational(apps, schema_editor):
    EventType = apps.get_model("endpoints", "EventType")
    EventType.objects.filter(name__in=OPERATIONAL, description__startswith="Operational:").update(
        internal=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("endpoints", "0004_api_key_read_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="eventtype",
            name="internal",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_operational, migrations.RunPython.noop),
    ]
