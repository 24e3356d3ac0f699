"""The tier's limits shared by every process through Redis or Valkey (`KLUSTER_RATE_LIMIT_STORE`).

The per-process `RateLimiter` books the whole tier for itself, so N workers on one key send N times
what the tier allows. `SharedRateLimiter` keeps the local limiter's semantics and moves its two books
to Redis, one pair of keys per (API key hash, model, tier):
- RPM: the sliding log `_SlidingWindow` keeps, as a sorted set of request stamps (Redis' own time,
  so machines with skewed clocks agree), each the earlier of two upper bounds of when the service
  counted the request: the margin after its body went on the wire, and its answer. Until it is sent a
  request holds its place in a second set of pending requests (the local limiter's "not sent yet"),
  so a request that waits long for its connection is still counted, and a worker that dies before
  sending leaves a pending entry that expires two windows later.
- concurrency: leases in a sorted set scored by their expiry. A holder renews its leases every third
  of `lease_s` from a background thread, so a crashed worker's slots come back within `lease_s`.
Both are checked and booked in one Lua script (atomic, one round trip per admission). The `limits`
package's Redis moving window would do for RPM alone, but it counts at admission and only in whole
seconds, which a window scaled for tests or a one-second margin cannot be expressed in.

The local gates stay in front (a process never has more than the tier's concurrency in flight, and
only the head of its line polls Redis), and the local limiter's learning from 429s applies as is.
Redis unreachable: `KlusterRateLimitStoreError` naming the URL without its password, or with
`KLUSTER_RATE_LIMIT_STORE_FALLBACK=local` one warning and the process's own limiter from then on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import uuid
from typing import Any
from urllib.parse import urlparse, urlunparse

from kluster_agents.integrations._api.errors import KlusterRateLimitStoreError
from kluster_agents.integrations._api.extras import require
from kluster_agents.integrations._api.limits import IN_FLIGHT_POLL_S, RPM_MARGIN_S, Hold, RateLimiter
from kluster_agents.integrations._api.settings import KlusterSettings

logger = logging.getLogger(__name__)

LEASE_S = 30.0  # a crashed worker's concurrency slots come back after at most this long
CONNECT_TIMEOUT_S = 2.0  # an unreachable store fails within seconds instead of stalling callers

# KEYS: sent stamps (score: Redis time), slot leases (score: expiry), pending requests (score: expiry).
# ARGV: rpm (0: none), window s, concurrency (0: none), lease s, ticket, poll s. Returns {wait, requests in
# the window, slots held}: wait -1 for "a slot must be released first", 0 when booked, the poll interval
# when the request that frees the next slot is not sent yet, the time to its stamp when that is still
# ahead (sent, not answered: its answer may bring it forward). Numbers travel as strings (Lua numbers
# become integers).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, window, concurrency, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local held, booked = 0, 0
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  held = redis.call('ZCARD', KEYS[2])
  if held >= concurrency then return {'-1', '0', tostring(held)} end
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  local sent = redis.call('ZCARD', KEYS[1])
  booked = sent + redis.call('ZCARD', KEYS[3])
  if booked >= rpm then
    if booked - rpm >= sent then return {ARGV[6], tostring(booked), tostring(held)} end
    local stamp = tonumber(redis.call('ZRANGE', KEYS[1], booked - rpm, booked - rpm, 'WITHSCORES')[2])
    if stamp <= now then stamp = stamp + window end
    return {tostring(stamp - now), tostring(booked), tostring(held)}
  end
  redis.call('ZADD', KEYS[3], now + 2 * window, ARGV[5])
  redis.call('PEXPIRE', KEYS[3], math.ceil(window * 2000))
end
if concurrency > 0 then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], math.ceil(lease * 2000))
end
return {'0', tostring(booked), tostring(held)}
"""

# KEYS: sent stamps, pending requests; ARGV: window s, ticket, offset s, margin s. Stamps a booked request
# `offset` from now (moving it from the pending requests) unless its stamp is that early already.
_STAMP = """
local t = redis.call('TIME')
local stamp = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[3])
local old = redis.call('ZSCORE', KEYS[1], ARGV[2])
if old and tonumber(old) <= stamp then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], stamp, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(ARGV[1]) + tonumber(ARGV[4])) * 2000))
return 1
"""

# KEYS: slot lease sets; ARGV[1]: lease s, then one ticket per key. Extends leases still held.
_RENEW = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', expiry, ARGV[i + 1])
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[1]) * 2000))
end
return 1
"""


def display_url(url: str) -> str:
    """`url` without its password (what errors and `doctor` may show)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.rsplit("@", 1)[1]
    user = f"{parsed.username}:***@" if parsed.username else "***@"
    return urlunparse(parsed._replace(netloc=user + netloc))


def budget_key(api_key: str | None, base_url: str, model: str, tier: str) -> str:
    """The Redis key prefix of one budget: the API key only as a hash (never in Redis or an error)."""
    digest = hashlib.sha256(f"{api_key or ''}\n{base_url}".encode()).hexdigest()[:24]
    return f"kluster:limits:{digest}:{model}:{tier}"


class LimitStore:
    """One Redis connection pool and the renewal of this process's concurrency leases."""

    def __init__(self, url: str, *, lease_s: float = LEASE_S) -> None:
        redis = require("redis", "redis")  # KLUSTER_RATE_LIMIT_STORE needs the client; the extra names it
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = display_url(url)
        self.lease_s = lease_s
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        # one reconnect for a pooled connection the server closed; then fail fast
        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),
        )
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._stamp = self._redis.register_script(_STAMP)
        self._renew = self._redis.register_script(_RENEW)
        self._leases: dict[str, str] = {}  # ticket -> its lease set
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"LimitStore({self.url!r})"

    def _fail(self, exc: BaseException) -> KlusterRateLimitStoreError:
        return KlusterRateLimitStoreError(
            f"The shared rate-limit store {self.url} cannot be reached ({type(exc).__name__}): start it or fix "
            "KLUSTER_RATE_LIMIT_STORE, or set KLUSTER_RATE_LIMIT_STORE_FALLBACK=local to pace each process on "
            "its own while it is down."
        )

    def ping(self) -> None:
        """Raise `KlusterRateLimitStoreError` unless the store answers."""
        try:
            self._redis.ping()
        except self._errors as exc:
            raise self._fail(exc) from None

    def book(
        self, prefix: str, ticket: str, *, rpm: int | None, window_s: float, concurrency: int | None
    ) -> tuple[float, int, int]:
        """(seconds to wait — -1: until a slot is released — or 0 when booked, stamps in the window, slots held)."""
        try:
            wait, booked, held = self._acquire(
                keys=[f"{prefix}:rpm", f"{prefix}:slots", f"{prefix}:pending"],
                args=[rpm or 0, repr(window_s), concurrency or 0, repr(self.lease_s), ticket, repr(IN_FLIGHT_POLL_S)],
            )
        except self._errors as exc:
            raise self._fail(exc) from None
        result = float(wait), int(booked), int(held)
        if result[0] == 0 and concurrency:
            with self._lock:
                self._leases[ticket] = f"{prefix}:slots"
                if self._renewer is None or not self._renewer.is_alive():
                    self._renewer = threading.Thread(target=self._renew_leases, name="kluster-leases", daemon=True)
                    self._renewer.start()
        return result

    def stamp(self, prefix: str, ticket: str, window_s: float, offset_s: float, margin_s: float) -> None:
        """Stamp a booked request `offset_s` from now unless it is stamped earlier (see `_SlidingWindow`)."""
        try:
            self._stamp(
                keys=[f"{prefix}:rpm", f"{prefix}:pending"],
                args=[repr(window_s), ticket, repr(offset_s), repr(margin_s)],
            )
        except self._errors as exc:  # the booking (or the earlier stamp) stands; the request itself goes on
            logger.warning("could not stamp a request in %s: %s", self.url, type(exc).__name__)

    def release(self, ticket: str) -> None:
        with self._lock:
            key = self._leases.pop(ticket, None)
        if key is None:
            return
        try:
            self._redis.zrem(key, ticket)
        except self._errors as exc:  # the lease expires on its own
            logger.warning("could not release a slot in %s (it expires in %g s): %s", self.url, self.lease_s, exc)

    def _renew_leases(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                leases = list(self._leases.items())
            if not leases:
                continue
            try:
                self._renew(keys=[k for _, k in leases], args=[repr(self.lease_s), *(t for t, _ in leases)])
            except self._errors as exc:
                logger.warning("could not renew %d slot leases in %s: %s", len(leases), self.url, type(exc).__name__)


_stores: dict[tuple[str, float], LimitStore] = {}
_stores_lock = threading.Lock()


def store_for(url: str, lease_s: float = LEASE_S) -> LimitStore:
    """The process's one `LimitStore` for `url`."""
    with _stores_lock:
        store = _stores.get((url, lease_s))
        if store is None:
            store = _stores[(url, lease_s)] = LimitStore(url, lease_s=lease_s)
        return store


def check_store(settings: KlusterSettings) -> tuple[bool, str]:
    """Whether the settings' rate-limit store answers, and a line that says so (for `doctor`)."""
    assert settings.rate_limit_store is not None
    url = settings.rate_limit_store.get_secret_value()
    try:
        store_for(url).ping()
    except KlusterRateLimitStoreError as exc:
        return False, exc.message
    except ImportError as exc:
        return False, str(exc)
    return True, f"{display_url(url)} answers; every process with this setting shares one budget per key and model"


class _SharedHold(Hold):
    """A request admitted by the shared store: stamps and releases there (errors logged, never raised:
    the request already runs, and its lease expires on its own)."""

    __slots__ = ("_stamps", "_store_ticket")

    def __init__(self, limiter: SharedRateLimiter, ticket: str, booked: int, held: int) -> None:
        self._limiter, self._ticket, self._released = limiter, None, False
        self._store_ticket, self._stamps = ticket, 0  # 1 once stamped as sent, 2 as answered
        self.generation = limiter._generation
        self.booked_before, self.held_before = booked, held

    def sent(self) -> None:
        self._stamp(1)

    def answered(self) -> None:
        self._stamp(2)

    def _stamp(self, stage: int) -> None:
        """One round trip per stage: a stamp as sent after the answer's could not be the earlier one."""
        limiter = self._limiter
        assert isinstance(limiter, SharedRateLimiter)
        with limiter._lock:
            if self._stamps >= stage or not limiter.rpm:
                return
            self._stamps = stage
        offset = limiter.margin_s if stage == 1 else 0.0
        limiter.store.stamp(limiter.prefix, self._store_ticket, limiter.window_s, offset, limiter.margin_s)

    def release(self) -> None:
        limiter = self._limiter
        assert isinstance(limiter, SharedRateLimiter)
        with limiter._lock:
            if self._released:
                return
            self._released = True
        self.answered()
        limiter.store.release(self._store_ticket)
        if limiter._slots is not None:
            limiter._slots.release()


class SharedRateLimiter(RateLimiter):
    """A `RateLimiter` whose RPM window and concurrency slots live in a `LimitStore`."""

    def __init__(
        self,
        rpm: int | None,
        concurrency: int | None,
        *,
        name: str,
        store: LimitStore,
        prefix: str,
        fallback_local: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(rpm, concurrency, name=name, **kwargs)
        self.store, self.prefix, self.fallback_local = store, prefix, fallback_local
        self.window_s = self._window.window_s if self._window is not None else 60.0
        self.margin_s = self._window.margin_s if self._window is not None else RPM_MARGIN_S
        self.local = False  # True once the store failed and the fallback took over

    def __repr__(self) -> str:
        return f"SharedRateLimiter(name={self.name!r}, rpm={self.rpm}, concurrency={self.concurrency}, {self.store!r})"

    def _unpaced_hold(self) -> Hold | None:
        return None  # every admission books the shared budget (its concurrency leases too), RPM or not

    def _admit(self) -> tuple[float, Hold | None]:
        if not self.local:
            ticket = uuid.uuid4().hex
            try:
                self._recover()
                wait, booked, held = self.store.book(
                    self.prefix, ticket, rpm=self.rpm, window_s=self.window_s, concurrency=self.concurrency
                )
            except KlusterRateLimitStoreError as exc:
                if not self.fallback_local:
                    raise
                self.local = True
                logger.warning(
                    "%s; KLUSTER_RATE_LIMIT_STORE_FALLBACK=local: pacing %s in this process only", exc, self.name
                )
            else:
                if wait < 0:
                    return IN_FLIGHT_POLL_S, None
                return (wait, None) if wait else (0.0, _SharedHold(self, ticket, booked, held))
        return super()._admit()

    async def _aadmit(self) -> tuple[float, Hold | None]:
        return await asyncio.to_thread(self._admit)  # a Redis round trip must not block the event loop
