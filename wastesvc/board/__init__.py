"""The operations board: a page the service serves for the dispatcher, and the thin gateway behind it.

The gateway reads through the gRPC API like any client, with the caller's bearer token (or, for a caller on
loopback, a read-only token the board mints from the service's key), and forwards a plan's live field
events as server-sent events. The page draws stops and paths itself, with a scale: no tile server.
"""

from wastesvc.board._gateway import Board, start_board

__all__ = ["Board", "start_board"]
