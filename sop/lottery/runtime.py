"""Each group's open draws, kept in memory per app (``services.shared["lottery"]``).

The entry handler sees every short text message of every group; asking the
database for the group's open draws each time put a query on the hot path of
all chat.  This cache answers "could this message enter a draw here?" without
I/O: a group with no open draw (nearly all of them, nearly always) costs no
query, and in a group with one only a message that matches the draw's keyword
(or a check-in, where the draw takes those) goes to the database.

It is filled by one query for the account's open draws at first use, and kept
up to date by the store's :class:`~sop.lottery.store.DrawWatcher` hook: every
store made by ``feature.store_of`` reports a draw opened (the calendar's run),
brought forward (#开奖) or claimed for drawing (the ``tick`` job).  Only this
account's process opens its draws, so the cache is authoritative here; still,
a draw the cache holds is checked against the database before anyone enters
it, and dropped when the database says it is no longer open.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime

from sop.lottery.content import LotteryContent
from sop.lottery.store import Draw, LotteryStore

KEY = "lottery"


class OpenDraws:
    """The account's open draws by group; see the module docstring.  Implements
    :class:`~sop.lottery.store.DrawWatcher`."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[int, Draw]] = {}
        self._room_of: dict[int, str] = {}
        self._contents: dict[int, LotteryContent] = {}
        self._loaded = False
        self._loading = asyncio.Lock()
        #: closed while the first load was under way (its snapshot may still list them)
        self._closed_during_load: set[int] | None = None
        #: how many times the database was asked for every open draw (tests, bench)
        self.loads = 0

    # ----------------------------------------------------------- the hook

    def opened(self, draw: Draw) -> None:
        if draw.status != "open":
            return
        self._rooms.setdefault(draw.room_id, {})[draw.id] = draw
        self._room_of[draw.id] = draw.room_id
        if self._closed_during_load is not None:
            self._closed_during_load.discard(draw.id)

    def moved(self, draw_id: int, draws_at: datetime) -> None:
        room = self._room_of.get(draw_id)
        draws = self._rooms.get(room) if room is not None else None
        if draws is not None and draw_id in draws:
            draws[draw_id] = dataclasses.replace(draws[draw_id], draws_at=draws_at)

    def closed(self, draw_id: int) -> None:
        if self._closed_during_load is not None:
            self._closed_during_load.add(draw_id)
        room = self._room_of.pop(draw_id, None)
        self._contents.pop(draw_id, None)
        if room is None:
            return
        draws = self._rooms.get(room)
        if draws is not None:
            draws.pop(draw_id, None)
            if not draws:
                del self._rooms[room]

    # -------------------------------------------------------------- reads

    async def load(self, store: LotteryStore) -> None:
        """Fill the cache once (one query); later calls return at once."""
        if self._loaded:
            return
        async with self._loading:
            if self._loaded:
                return
            self._closed_during_load = set()
            try:
                snapshot = await store.all_open()
                self.loads += 1
                for draw in snapshot:
                    known = self._rooms.get(draw.room_id, {})
                    if draw.id not in self._closed_during_load and draw.id not in known:
                        self.opened(draw)
                self._loaded = True
            finally:
                self._closed_during_load = None

    def content(self, draw: Draw) -> LotteryContent:
        """The draw's content as it opened (parsed once)."""
        found = self._contents.get(draw.id)
        if found is None:
            found = LotteryContent.model_validate_json(draw.content)
            if draw.id in self._room_of:
                self._contents[draw.id] = found
        return found

    def candidates(self, room_id: str, at: datetime) -> list[Draw]:
        """The cached draws one could enter in ``room_id`` at ``at`` (no I/O;
        only after :meth:`load`)."""
        draws = self._rooms.get(room_id)
        if not draws:
            return []
        found = [d for d in draws.values() if d.opened_at <= at < d.draws_at]
        return sorted(found, key=lambda d: (d.opened_at, d.id))

    async def open_draws(
        self,
        store: LotteryStore,
        room_id: str,
        at: datetime,
        wanted: Callable[[Draw], bool] | None = None,
    ) -> list[Draw]:
        """``store.open_draws(room_id, at)``, asked only when the cache holds a
        draw here that ``wanted`` (if given) accepts; the database's answer
        decides, and a cached draw it no longer has open is dropped."""
        await self.load(store)
        maybe = [d for d in self.candidates(room_id, at) if wanted is None or wanted(d)]
        if not maybe:
            return []
        found = await store.open_draws(room_id, at)
        ids = {d.id for d in found}
        for draw in maybe:
            if draw.id in ids:
                continue
            fresh = await store.get(draw.id)  # rare: what changed behind the cache's back?
            if fresh is None or fresh.status != "open":
                self.closed(draw.id)
            else:
                self.opened(fresh)  # open, at another time than the cache had
        for draw in found:
            if draw.id not in self._room_of:
                self.opened(draw)
        return found


def open_draws_of(shared: dict[str, object]) -> OpenDraws:
    """The app's cache (made at first use)."""
    found = shared.get(KEY)
    if not isinstance(found, OpenDraws):
        found = shared[KEY] = OpenDraws()
    return found
