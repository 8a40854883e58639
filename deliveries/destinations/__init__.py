"""Destinations: endpoints that are not an HTTP URL (a Redis stream, a RabbitMQ exchange, ...).

``base`` is the interface (``Adapter``, ``Message``, ``Answer``), ``sender`` runs the adapters
off the engine's thread, and every other module here is one kind: it registers its options and
adapter with ``endpoints.destinations`` when imported. ``load_kinds`` imports them all (Django's
app start does), so adding a kind is adding its module.
"""

from __future__ import annotations

import importlib
import pkgutil

_SUPPORT = {"base", "sender", "templates"}


def load_kinds() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _SUPPORT and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
