from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("grpc", "google", "sqlmodel", "sqlalchemy", "psycopg", "wastesvc.v1", "wastesvc.storage",
             "wastesvc.servicers", "wastesvc.domain", "routing")  # fmt: skip


def test_the_fill_library_imports_no_service_layer() -> None:
    """Importing wastesvc.fill in a fresh interpreter loads no gRPC, database, service or routing module."""
    code = (
        "import sys, wastesvc.fill, wastesvc.fill.synthetic\n"
        f"bad = [m for p in {FORBIDDEN!r} for m in list(sys.modules) if m == p or m.startswith(p + '.')]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
