"""The lottery's draw, provably fair: a pure function anyone can recompute.

The procedure (also in README.md, "抽奖可验证 / Verifying a lottery")::

    seed       = 64 hex characters (secrets.token_hex(32)), kept secret until the draw
    seed_hash  = SHA-256(seed as ASCII text), hex — posted when the lottery opens
    entrants   = the entrants' account ids, distinct, sorted (Python's str order)
    list_hash  = SHA-256(each id followed by "\\n", as UTF-8), hex — posted at the draw
    r(c)       = int(HMAC-SHA256(key = seed as ASCII, message = str(c) as ASCII), big endian)
                 for c = 0, 1, 2, … (a counter shared by the whole draw)
    below(n)   = the next r(c) that is < (2**256 // n) * n, taken modulo n
                 (rejection sampling: every index equally likely)
    for i in 0 … winners-1:  j = i + below(len - i); swap entrants[i], entrants[j]
    winners    = entrants[:winners]   (a partial Fisher–Yates shuffle; in order of the draw)

The seed is fixed (and its hash published) before anyone enters, so the bot
cannot choose a seed that favours someone; the list is published with the
seed, so nobody can be slipped in or left out unseen.  Same inputs, same
winners, on every machine.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

#: The name of this procedure (stored with each draw; a change would be a new one).
ALGORITHM = "qunbot-lottery-v1"
_SPACE = 1 << 256  # HMAC-SHA256 gives 256 bits


def new_seed() -> str:
    """A fresh secret seed: 32 random bytes as 64 lower-case hex characters."""
    return secrets.token_hex(32)


def seed_hash(seed: str) -> str:
    """What is posted when the lottery opens: SHA-256 of the seed's text, hex."""
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def seed_matches(seed: str, published_hash: str) -> bool:
    return hmac.compare_digest(seed_hash(seed), published_hash.strip().lower())


def canonical(ids: Iterable[str]) -> list[str]:
    """The ordered entrant list: distinct account ids, sorted."""
    return sorted({i.strip() for i in ids if i.strip()})


def list_text(ids: Iterable[str]) -> str:
    """The canonical list as a file: one id a line, each ending in a newline."""
    return "".join(f"{i}\n" for i in canonical(ids))


def list_hash(ids: Iterable[str]) -> str:
    """SHA-256 of :func:`list_text` (``sha256sum`` of that file gives the same)."""
    return hashlib.sha256(list_text(ids).encode("utf-8")).hexdigest()


class _Stream:
    """r(0), r(1), …: HMAC-SHA256(seed, counter) as 256-bit integers."""

    def __init__(self, seed: str) -> None:
        self._key = seed.encode("ascii")
        self.counter = 0

    def next(self) -> int:
        mac = hmac.new(self._key, str(self.counter).encode("ascii"), hashlib.sha256)
        self.counter += 1
        return int.from_bytes(mac.digest(), "big")

    def below(self, n: int) -> int:
        """An index in ``[0, n)``, every one equally likely (rejection sampling)."""
        if n < 1:
            raise ValueError("below(n) needs n >= 1")
        limit = (_SPACE // n) * n
        while True:
            value = self.next()
            if value < limit:
                return value % n


def draw_indexes(seed: str, count: int, winners: int) -> list[int]:
    """The winners' positions (0-based) in a canonical list of ``count`` entrants."""
    if winners < 0 or count < 0:
        raise ValueError("counts cannot be negative")
    stream = _Stream(seed)
    pool = list(range(count))
    for i in range(min(winners, count)):
        j = i + stream.below(count - i)
        pool[i], pool[j] = pool[j], pool[i]
    return pool[: min(winners, count)]


def draw(seed: str, entrants: Iterable[str], winners: int) -> list[str]:
    """The winners' account ids, in the order drawn (``entrants`` in any order:
    the canonical list is used)."""
    ordered = canonical(entrants)
    return [ordered[i] for i in draw_indexes(seed, len(ordered), winners)]


def numbered(entrants: Iterable[str]) -> dict[str, int]:
    """Each entrant's number (1-based) in the canonical list, as posted."""
    return {member: n for n, member in enumerate(canonical(entrants), 1)}
