"""Concurrent single-item writes gathered into one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Runs `work` on the items submitted meanwhile, in one thread call (so one commit) per group.

    A unary ingest call must wait for its own commit; with one commit per call the calls queue behind
    the database's writer lock and its fsync. Calls arriving while a group is being stored form the next
    group instead, so a burst costs a few commits. `work` returns one result per item, in order; if it
    raises, every call of the group gets the exception.
    """

    def __init__(self, work: Callable[[list[T]], Sequence[R]], max_items: int) -> None:
        self._work = work
        self._max_items = max_items
        self._pending: list[tuple[T, asyncio.Future[tuple[int, R]]]] = []
        self._draining = False

    async def submit(self, item: T) -> tuple[int, R]:
        """The item's position in its group and its result."""
        future: asyncio.Future[tuple[int, R]] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                # A caller gone meanwhile (deadline, cancel) has been told nothing was stored: skip its item.
                group = [
                    (item, future) for item, future in self._pending[: self._max_items] if not future.done()
                ]
                del self._pending[: self._max_items]
                if not group:
                    continue
                try:
                    results = await asyncio.to_thread(self._work, [item for item, _ in group])
                except Exception as error:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for index, ((_, future), result) in enumerate(zip(group, results, strict=True)):
                    if not future.done():  # a caller may have gone (deadline, cancel)
                        future.set_result((index, result))
        finally:
            self._draining = False
