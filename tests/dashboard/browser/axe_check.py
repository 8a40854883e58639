"""axe-core (npm, pinned by axe/package-lock.json) run in a page: WCAG 2.1 A and AA."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# What WCAG 2.1 A and AA ask; any finding, whatever its impact, fails the page.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core as the lock file pins it (``npm ci`` on first use)."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            reason = "npm is missing (apt-get install npm); the accessibility check needs axe-core"
            if os.environ.get("CI") == "true":
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=AXE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return AXE_JS


def violations(page: Any, axe_js: Path) -> list[str]:
    page.add_script_tag(path=str(axe_js))
    found = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:3])
        for v in found["violations"]
    ]
