"""Run at the start of every Python process a test starts: ``tests.workers.worker_env`` puts
this folder on PYTHONPATH and the test's resolver table in WEBHOOKS_TEST_DNS. Name lookups in
that process (workers, the embedded platform and the processes it starts) then answer from the
table, never from a DNS server.

A process that cannot install the table exits rather than run with the real resolver.
"""

import json
import os
import sys
from pathlib import Path

_table = os.environ.get("WEBHOOKS_TEST_DNS")
if _table is not None:
    try:
        _root = str(Path(__file__).resolve().parent.parent.parent)
        if _root not in sys.path:
            sys.path.append(_root)
        from endpoints import url_safety
        from tests.fake_dns import resolvers

        url_safety.resolve, url_safety.resolve_async = resolvers(json.loads(_table))
    except Exception as exc:  # noqa: BLE001  any failure: refuse to run unpatched
        sys.stderr.write(f"test resolver not installed, exiting: {exc!r}\n")
        raise SystemExit(3) from exc
