"""Credential header values stored before sealing existed are sealed (encrypted at rest)."""

from django.db import migrations


def seal(apps, schema_editor):
    from endpoints.services.header_seal import header_seal, is_sealed
    from endpoints.services.rules import is_sensitive_header

    Endpoint = apps.get_model("endpoints", "Endpoint")
    for endpoint in Endpoint.objects.exclude(headers={}).only("id", "headers").iterator():
        headers = endpoint.headers or {}
        sealed = {
            k: header_seal(v) if is_sensitive_header(k) and not is_sealed(v) else v
            for k, v in headers.items()
        }
        if sealed != headers:
            Endpoint.objects.filter(pk=endpoint.pk).update(headers=sealed)


def unseal(apps, schema_editor):
    from endpoints.services.header_seal import headers_open

    Endpoint = apps.get_model("endpoints", "Endpoint")
    for endpoint in Endpoint.objects.exclude(headers={}).only("id", "headers").iterator():
        opened = headers_open(endpoint.headers or {})
        if opened != endpoint.headers:
            Endpoint.objects.filter(pk=endpoint.pk).update(headers=opened)


class Migration(migrations.Migration):
    dependencies = [("endpoints", "0005_event_type_internal")]

    operations = [migrations.RunPython(seal, unseal, elidable=True)]
