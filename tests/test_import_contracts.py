"""DESIGN.md, "Layers": ``deliveries`` uses ``endpoints``, never the reverse; both build on
``platform_core`` and neither imports ``webhooks_platform``. The contracts in
pyproject.toml say so for ``lint-imports`` (run by ``make test``); these tests keep them true
for a plain pytest run too."""

from __future__ import annotations

from pathlib import Path

import grimp
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_endpoints_reaches_no_deliveries_module():
    # given the import graph of the three packages, imports inside functions and under
    # TYPE_CHECKING included
    graph = grimp.build_graph(
        "endpoints", "deliveries", "webhooks_platform", "platform_core", cache_dir=None
    )

    # when every chain from endpoints to deliveries is looked for, directly or through another
    chains = graph.find_shortest_chains(
        importer="endpoints", imported="deliveries", as_packages=True
    )

    # then there is none
    assert chains == set()


def test_no_package_imports_one_above_it():
    # given the import graph of the four packages, top to bottom
    layers = ["webhooks_platform", "deliveries", "endpoints", "platform_core"]
    graph = grimp.build_graph(*layers, cache_dir=None)

    # when every chain from a package to one above it is looked for
    upward = {
        (lower, upper): graph.find_shortest_chains(importer=lower, imported=upper, as_packages=True)
        for i, upper in enumerate(layers)
        for lower in layers[i + 1 :]
    }

    # then there is none
    assert {pair: chains for pair, chains in upward.items() if chains} == {}


def test_the_import_contracts_hold():
    assert (
        lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
        == EXIT_STATUS_SUCCESS
    )
