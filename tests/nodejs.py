"""Node.js for the tests that use npm packages as real clients and verifiers: the official
``svix`` SDK and ``@octokit/webhooks-methods``, installed in tests/node by ``npm ci``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
MIN_NODE_MAJOR = 18
PACKAGES = ("svix", "@octokit/webhooks-methods")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name!r} is not on PATH: the npm packages' tests need Node.js {MIN_NODE_MAJOR}+ and "
            "npm (on Debian: apt-get install nodejs npm; .ci/run installs them when missing)",
            pytrace=False,
        )
    return path


def node_ready() -> str:
    """The node binary, with tests/node's packages installed (``npm ci`` when one is missing)."""
    node = _tool("node")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        pytest.fail(f"node {version} is too old; tests need {MIN_NODE_MAJOR}+", pytrace=False)
    if not all((NODE_DIR / "node_modules" / p / "package.json").exists() for p in PACKAGES):
        done = subprocess.run(
            [_tool("npm"), "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(
                f"npm ci in {NODE_DIR} failed ({done.returncode}):\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}",
                pytrace=False,
            )
    return node


def node_json(node: str, script: str, data: Any, timeout: float = 60) -> Any:
    """Run tests/node/``script`` with ``data`` as JSON on stdin; its stdout parsed as JSON."""
    done = subprocess.run(
        [node, str(NODE_DIR / script)],
        cwd=NODE_DIR,
        input=json.dumps(data),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        pytest.fail(
            f"node {script} failed ({done.returncode}):\n--- stderr\n{done.stderr}", pytrace=False
        )
    return json.loads(done.stdout)
