"""A product process publishing a steady stream: ``python -m tests.e2e.publish_stream``.

Arguments: tenant slug, event type, events per second, seconds. Prints each event id as it is
published (one a line, flushed), so the test knows exactly what must arrive.
"""

from __future__ import annotations

import os
import sys
import time


def main(tenant: str, event_type: str, rate: float, seconds: float) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_platform.settings")
    import django

    django.setup()
    from deliveries import publish_event

    interval = 1 / rate
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < seconds:
        event = publish_event(tenant, event_type, {"n": n})
        print(event.pk, flush=True)
        n += 1
        time.sleep(max(0.0, started + n * interval - time.monotonic()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
