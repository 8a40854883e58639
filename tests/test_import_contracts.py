"""DESIGN.md, "Layers": ``deliveries`` uses ``endpoints``, never the reverse. The contracts in
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
    graph = grimp.build_graph("endpoints", "deliveries", "webhooks_platform", cache_dir=None)

    # when every chain from endpoints to deliveries is looked for, directly or through another
    chains = graph.find_shortest_chains(
        importer="endpoints", imported="deliveries", as_packages=True
    )

    # then there is none
    assert chains == set()


def test_the_import_contracts_hold():
    assert (
        lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
        == EXIT_STATUS_SUCCESS
    )
