"""``create_endpoint --kind``: a destination from the command line."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from endpoints import destinations
from endpoints.models import Endpoint

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_destination_from_options_with_the_password_from_a_file(tenant, tmp_path):
    options = tmp_path / "rabbit.json"
    options.write_text(json.dumps({"password": "from-a-file-123"}))

    out = json.loads(
        run(
            "create_endpoint",
            "acme",
            "--kind",
            "rabbitmq",
            "--option",
            "url=amqp://app@127.0.0.1:5672/",
            "--option",
            "exchange=events",
            "--option",
            "persistent=false",
            "--destination",
            f"@{options}",
            "--json",
        )
    )

    endpoint = Endpoint.objects.get(pk=out["id"])
    assert out["kind"] == "rabbitmq"
    assert out["destination"]["password"] == "[redacted]"
    assert out["destination"]["persistent"] is False
    assert "from-a-file-123" not in json.dumps(out)
    opened = destinations.config_open("rabbitmq", endpoint.destination)
    assert opened["password"] == "from-a-file-123"


def test_bad_destination_input_is_a_clear_error(tenant, monkeypatch):
    with pytest.raises(CommandError, match="destination.maxlen: Give at least 1"):
        run(
            "create_endpoint",
            "acme",
            "--kind",
            "redis",
            "--option",
            "url=redis://127.0.0.1/0",
            "--option",
            "stream=s",
            "--option",
            "maxlen=0",
        )
    with pytest.raises(CommandError, match="kind: Give one of push, poll, "):
        run("create_endpoint", "acme", "--kind", "kafka")
    with pytest.raises(CommandError, match="--destination is not valid JSON"):
        run("create_endpoint", "acme", "--kind", "redis", "--destination", "{nope")
    monkeypatch.setattr(destinations.kind_get("sqs"), "module", "no_such_module_here")
    with pytest.raises(CommandError, match="needs the 'boto3' package, which is not installed"):
        run("create_endpoint", "acme", "--kind", "sqs", "--option", "region=x")
    assert not Endpoint.objects.exists()
