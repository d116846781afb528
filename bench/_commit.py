"""The commit a benchmark run measures."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["measured_commit"]

REPO = Path(__file__).resolve().parent.parent


def measured_commit(*code: str) -> str | None:
    """The short HEAD, with `+` when the measured code (`code`: paths in the repository) differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        # Only the code measured counts: results of earlier runs are often not committed yet.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *code, ":(exclude)bench/results"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty.strip() else "")
