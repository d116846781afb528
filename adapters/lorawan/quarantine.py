"""Frames the adapter could not store, kept in the adapter's own SQLite file until an operator acts.

A frame goes here when its message is malformed, its device unknown, its payload undecodable, or the
service rejected it. It is written (and synced) before the broker gets its acknowledgement, so
nothing is lost between the two. ``wastesvc-adapter lorawan quarantine list|replay|drop`` works on it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Quarantine", "QuarantinedFrame"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    quarantined_at TEXT NOT NULL,
    network TEXT,
    origin TEXT NOT NULL,
    reason TEXT NOT NULL,
    body BLOB NOT NULL,
    replays INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True, slots=True)
class QuarantinedFrame:
    """One quarantined message, as received.

    Attributes
    ----------
    id
        Its number in the quarantine.
    quarantined_at
        When it was first quarantined, UTC.
    network
        ``"tts"``, ``"chirpstack"``, or ``None`` when the topic named neither.
    origin
        Where it came from: ``mqtt:<topic>`` or ``webhook``.
    reason
        Why it is here (updated by each failed replay).
    body
        The message body exactly as received.
    replays
        How many replays failed.
    """

    id: int
    quarantined_at: datetime
    network: str | None
    origin: str
    reason: str
    body: bytes
    replays: int


class Quarantine:
    """The quarantine file; one instance per process (SQLite handles the locking between processes).

    Parameters
    ----------
    path
        The SQLite file, created with its table when missing.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Full sync: a frame is on disk before the broker is told it was handled.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def add(self, *, network: str | None, origin: str, reason: str, body: bytes) -> int:
        """Quarantine ``body``; returns its id."""
        cursor = self._db.execute(
            "INSERT INTO quarantine (quarantined_at, network, origin, reason, body) VALUES (?, ?, ?, ?, ?)",
            (datetime.now(UTC).isoformat(), network, origin, reason, body),
        )
        assert cursor.lastrowid is not None  # an INSERT always sets it
        return cursor.lastrowid

    def frames(self, ids: list[int] | None = None) -> list[QuarantinedFrame]:
        """The quarantined frames, oldest first; only ``ids`` when given."""
        query = "SELECT id, quarantined_at, network, origin, reason, body, replays FROM quarantine"
        if ids is not None:
            query += f" WHERE id IN ({', '.join('?' * len(ids))})"
        rows = self._db.execute(query + " ORDER BY id", ids or ()).fetchall()
        return [
            QuarantinedFrame(
                id=row[0],
                quarantined_at=datetime.fromisoformat(row[1]),
                network=row[2],
                origin=row[3],
                reason=row[4],
                body=bytes(row[5]),
                replays=row[6],
            )
            for row in rows
        ]

    def replay_failed(self, frame_id: int, reason: str) -> None:
        """Record that replaying ``frame_id`` failed again, and why."""
        self._db.execute(
            "UPDATE quarantine SET reason = ?, replays = replays + 1 WHERE id = ?", (reason, frame_id)
        )

    def remove(self, frame_id: int) -> bool:
        """Take ``frame_id`` out (replayed or dropped by the operator); False when it was not there."""
        return self._db.execute("DELETE FROM quarantine WHERE id = ?", (frame_id,)).rowcount > 0
