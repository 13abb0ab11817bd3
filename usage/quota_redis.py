"""Quota enforcement on Redis: one Lua script per admission, one per settlement.

Layout (prefix `QUOTA_REDIS_PREFIX`, per user and UTC day, TTL = end of day + margin):
  {p}:{u<id>}:<YYYYMMDD>          hash  req / used / res (requests, tokens, reserved)
  {p}:{u<id>}:<YYYYMMDD>:alerts   hash  80 / 100 -> 1 once the alert fired that day
  {p}:r:<reservation id>          hash  tokens / uid / day (TTL: reservation TTL + 1d)
  {p}:reservations                zset  reservation ids scored by expiry (the sweeper)
  {p}:events                      list  usage events + alerts waiting for the drain task
  {p}:rl:u:<id>:<window> / {p}:rl:ip:<ip>:<window>   fixed-window rate-limit counters

  {p}:epoch                        "<unix time>:<random>": set by the first admission
                                   on an empty Redis (a restart without persistence)

Usage records: the settle script pushes each to `{p}:events` (with the alerts) in
the same round trip, and `usage_settle` hands it to the process's background
writer (`usage.record_writer`), which stores it within `USAGE_RECORD_FLUSH_MS`
without a database query in the request. The drain task stores the Redis copies
later, skipping those the writer stored (unique event key), and the writer skips
those the drain stored. So a Redis that dies loses no record the writer holds,
and a web process that dies loses none Redis holds: only both within one flush
interval (or while the database refuses the writer) lose one. With
`USAGE_RECORD_FLUSH_MS=0` each record is written inside the request instead
(Redis buffers it only when the database refuses it).

Redis failing over (see docs/ARCHITECTURE.md, "Quotas when Redis fails"): Redis
holds admissions the database does not know yet (calls in flight). So after a
process sees Redis fail, or sees it come back empty (a new epoch), admissions are
refused (503 `quota_unavailable`) for `QUOTA_FAILOVER_HOLD_SECONDS`, the longest a
call may run: by then every call Redis admitted has settled and its record is in
the database, and the database fallback (or Redis, seeded per user from the
database on first use) counts exactly. That holds across processes because each
one waits on its own observation of the failure, which comes after Redis's last
admission.
"""

import asyncio
import json
import logging
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import redis
import redis.asyncio as aredis
from django.conf import settings
from redis.commands.core import AsyncScript

from flowmatik.redis_async import async_client, pool_exhausted

logger = logging.getLogger("flowmatik.usage")

REDIS_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)
# Redis (or this process's event loop) too slow to answer in time: the command may
# have run. Not an outage: the call is refused, Redis stays the source of truth.
REDIS_TIMEOUTS = (redis.TimeoutError, asyncio.TimeoutError)


def is_timeout(exc: BaseException) -> bool:
    """A timeout, not a refused or broken connection (see `mark_down`): Redis (or
    this process) too slow, or every connection of this process's pool in use for
    longer than the wait — a busy process, not an outage."""
    return isinstance(exc, REDIS_TIMEOUTS) or pool_exhausted(exc)


ADMIT_LUA = """
-- KEYS: 1 quota hash, 2 reservation hash, 3 reservation zset, 4 user rl, 5 ip rl
--       6 epoch
-- ARGV: 1 limit_req 2 limit_tok (-1 = unlimited) 3 prompt 4 max_tokens 5 rid
--       6 reservation expiry score 7 day ttl 8 reservation ttl 9 user rl limit
--       10 user rl ttl 11 ip rl limit 12 ip rl ttl 13 user id 14 day
--       15 expected epoch ('' = any) 16 new epoch if none 17 seed requests
--       18 seed tokens ('' = no seed: answer 'seed' for a user Redis does not know)
local epoch = redis.call('GET', KEYS[6])
if not epoch then
  epoch = ARGV[16]
  redis.call('SET', KEYS[6], epoch)
end
if ARGV[15] ~= '' and epoch ~= ARGV[15] then return {'epoch', 0, 0, 0, 0, epoch} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[18] == '' then return {'seed', 0, 0, 0, 0, epoch} end
  redis.call('HSET', KEYS[1], 'req', ARGV[17], 'used', ARGV[18], 'res', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[7])
end
local function over(key, limit, ttl)
  if limit <= 0 then return false end
  local c = redis.call('INCR', key)
  if c == 1 then redis.call('EXPIRE', key, ttl) end
  return c > limit
end
if over(KEYS[4], tonumber(ARGV[9]), ARGV[10]) then
  return {'rate_user', 0, 0, 0, 0, epoch}
end
if over(KEYS[5], tonumber(ARGV[11]), ARGV[12]) then
  return {'rate_ip', 0, 0, 0, 0, epoch}
end
local q = redis.call('HMGET', KEYS[1], 'req', 'used', 'res')
local req = tonumber(q[1] or '0')
local used = tonumber(q[2] or '0')
local res = tonumber(q[3] or '0')
local lreq = tonumber(ARGV[1])
local ltok = tonumber(ARGV[2])
local prompt = tonumber(ARGV[3])
local grant = tonumber(ARGV[4])
if lreq >= 0 and req >= lreq then return {'requests', req, used, res, 0, epoch} end
if ltok >= 0 then
  local avail = ltok - used - res - prompt
  local need = 0
  if grant > 0 then need = 1 end
  if avail < need then return {'tokens', req, used, res, 0, epoch} end
  if grant > avail then grant = avail end
end
local tokens = prompt + grant
req = redis.call('HINCRBY', KEYS[1], 'req', 1)
res = redis.call('HINCRBY', KEYS[1], 'res', tokens)
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('HSET', KEYS[2], 'tokens', tokens, 'uid', ARGV[13], 'day', ARGV[14])
redis.call('EXPIRE', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
return {'ok', req, used, res, grant, epoch}
"""

SETTLE_LUA = """
-- KEYS: 1 quota hash, 2 reservation hash, 3 reservation zset, 4 events, 5 alerts
-- ARGV: 1 rid 2 outcome (ok|error|release) 3 actual tokens 4 limit_req 5 limit_tok
--       6 event json ('' = none) 7 day ttl 8 user id 9 day (YYYY-MM-DD)
local r = redis.call('HMGET', KEYS[2], 'tokens', 'swept')
redis.call('ZREM', KEYS[3], ARGV[1])
local fresh = 0
local alert = ''
if r[1] and not r[2] then
  fresh = 1
  -- 0 - n, not -n: Lua's -0 reaches HINCRBY as "-0", which Redis refuses
  redis.call('HINCRBY', KEYS[1], 'res', 0 - tonumber(r[1]))
  if ARGV[2] == 'release' then
    -- the sweeper: tokens go back, the request stays counted; a late settle of
    -- the same call can still count what it really used (branch below)
    redis.call('HSET', KEYS[2], 'swept', 1)
  else
    redis.call('DEL', KEYS[2])
  end
elseif r[2] and ARGV[2] ~= 'release' then
  fresh = 1
  redis.call('DEL', KEYS[2])
end
if fresh == 1 and ARGV[2] ~= 'release' then
  if ARGV[2] == 'error' then
    redis.call('HINCRBY', KEYS[1], 'req', -1)
  else
    redis.call('HINCRBY', KEYS[1], 'used', tonumber(ARGV[3]))
  end
  if ARGV[6] ~= '' then redis.call('RPUSH', KEYS[4], ARGV[6]) end
end
local q = redis.call('HMGET', KEYS[1], 'req', 'used', 'res')
local req = tonumber(q[1] or '0')
local used = tonumber(q[2] or '0')
local res = tonumber(q[3] or '0')
if fresh == 1 and ARGV[2] == 'ok' then
  local lreq = tonumber(ARGV[4])
  local ltok = tonumber(ARGV[5])
  -- the fuller of the two limits, as a fraction compared in integers
  local kind, num, den = '', 0, 1
  if lreq > 0 and req * den > num * lreq then kind, num, den = 'requests', req, lreq end
  if ltok > 0 and used * den > num * ltok then kind, num, den = 'tokens', used, ltok end
  if kind ~= '' then
    local level = 0
    if num >= den then level = 100 elseif num * 100 >= den * 80 then level = 80 end
    if level > 0 and redis.call('HSETNX', KEYS[5], tostring(level), 1) == 1 then
      if level == 100 then redis.call('HSETNX', KEYS[5], '80', 1) end
      redis.call('EXPIRE', KEYS[5], ARGV[7])
      alert = cjson.encode({kind='alert', user_id=tonumber(ARGV[8]), day=ARGV[9],
                            level=level, limit=kind, limit_value=den, used=num})
      redis.call('RPUSH', KEYS[4], alert)
    end
  end
end
return {fresh, req, used, res, alert}
"""

# Move up to N events to the processing list atomically (the drain's first step).
TAKE_LUA = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('RPUSH', KEYS[2], unpack(items))
  redis.call('LTRIM', KEYS[1], #items, -1)
end
return items
"""


def prefix() -> str:
    return settings.QUOTA_REDIS_PREFIX


def quota_key(user_id: int, day: date) -> str:
    return f"{prefix()}:{{u{user_id}}}:{day:%Y%m%d}"


def alerts_key(user_id: int, day: date) -> str:
    return f"{quota_key(user_id, day)}:alerts"


def reservation_key(rid: str) -> str:
    return f"{prefix()}:r:{rid}"


def reservations_key() -> str:
    return f"{prefix()}:reservations"


def events_key() -> str:
    return f"{prefix()}:events"


def processing_key() -> str:
    return f"{prefix()}:events:processing"


def dead_letter_key() -> str:
    return f"{prefix()}:events:dead"


def epoch_key() -> str:
    return f"{prefix()}:epoch"


def drain_lock_key() -> str:
    return f"{prefix()}:events:lock"


def rate_key(scope: str, ident: str, seconds: int, now: float) -> str:
    return f"{prefix()}:rl:{scope}:{ident}:{seconds}:{int(now // seconds)}"


# --- clients: async ones per event loop (redis.asyncio pools are loop-bound) ---

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = (
    weakref.WeakKeyDictionary()
)
_sync_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()
_down_until: dict[str, float] = {}
# Per Redis URL, in this process (monotonic seconds): the last answer from Redis,
# the first failure seen after it, and until when admissions are held (503).
_last_ok: dict[str, float] = {}
_failed_since: dict[str, float] = {}
_hold_until: dict[str, float] = {}
# The Redis epoch this process last admitted under (a different one = data lost).
_epoch: dict[str, str] = {}


@dataclass
class _AsyncHandle:
    client: aredis.Redis
    admit: AsyncScript
    settle: AsyncScript


def _client_kwargs() -> dict:
    timeout = settings.QUOTA_REDIS_TIMEOUT_SECONDS
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "decode_responses": True,
        "health_check_interval": 30,
    }


def enabled() -> bool:
    """Redis is configured and not inside its back-off window after a failure."""
    url = settings.REDIS_URL
    if not url:
        return False
    return time.monotonic() >= _down_until.get(url, 0.0)


def mark_down(exc: BaseException) -> None:
    """Skip Redis for `QUOTA_REDIS_RETRY_SECONDS`: calls then need not wait out a
    timeout each. The first failure after an answer starts the failover hold.

    A timeout is no outage: on a loaded process every Redis reply can arrive late,
    and holding admissions for `QUOTA_FAILOVER_HOLD_SECONDS` then would turn a
    burst into minutes of 503s. Only refused or broken connections count."""
    if is_timeout(exc):
        logger.warning(
            "Quota Redis answered too late", extra={"error": type(exc).__name__}
        )
        return
    url = settings.REDIS_URL
    now = time.monotonic()
    _down_until[url] = now + settings.QUOTA_REDIS_RETRY_SECONDS
    if _failed_since.get(url, -1.0) < _last_ok.get(url, 0.0) or url not in (
        _failed_since
    ):
        _failed_since[url] = now
        _hold_until[url] = max(
            _hold_until.get(url, 0.0), now + settings.QUOTA_FAILOVER_HOLD_SECONDS
        )
    logger.warning(
        "Quota Redis unreachable; using the database fallback",
        extra={"error": type(exc).__name__},
    )


def mark_ok() -> None:
    """Redis answered (an admission or a settlement)."""
    _last_ok[settings.REDIS_URL] = time.monotonic()


def hold_remaining() -> float:
    """Seconds this process still refuses admissions after a Redis failover."""
    return max(0.0, _hold_until.get(settings.REDIS_URL, 0.0) - time.monotonic())


def new_epoch() -> str:
    return f"{time.time():.3f}:{uuid.uuid4().hex[:12]}"


def expected_epoch() -> str:
    return _epoch.get(settings.REDIS_URL, "")


def epoch_adopt(epoch: str) -> None:
    """Redis answered under `epoch`. A different epoch than this process knew
    means Redis lost its data (restarted empty): unless this process saw the
    outage itself (its own hold covers the calls then in flight), hold admissions
    until `QUOTA_FAILOVER_HOLD_SECONDS` after the new epoch began."""
    url = settings.REDIS_URL
    known = _epoch.get(url)
    _epoch[url] = epoch
    if known is None or known == epoch:
        return
    saw_outage = _failed_since.get(url, -1.0) >= _last_ok.get(url, 0.0)
    if saw_outage:
        return
    try:
        began = float(epoch.split(":", 1)[0])
    except ValueError:
        began = time.time()
    left = began + settings.QUOTA_FAILOVER_HOLD_SECONDS - time.time()
    if left > 0:
        _hold_until[url] = max(_hold_until.get(url, 0.0), time.monotonic() + left)
    logger.warning("Quota Redis came back empty; counters are seeded again")


def reset_state() -> None:
    """Forget clients and back-off (tests switch REDIS_URL)."""
    with _lock:
        _down_until.clear()
        _last_ok.clear()
        _failed_since.clear()
        _hold_until.clear()
        _epoch.clear()
        for client in _sync_clients.values():
            client.close()
        _sync_clients.clear()
    _async_clients.clear()
    _last_seen.clear()
    with _doubt_lock:
        _in_doubt.clear()


def async_handle() -> _AsyncHandle:
    loop = asyncio.get_running_loop()
    url = settings.REDIS_URL
    per_loop = _async_clients.setdefault(loop, {})
    handle = per_loop.get(url)
    if handle is None:
        client = async_client(
            url, wait_seconds=settings.QUOTA_REDIS_TIMEOUT_SECONDS, **_client_kwargs()
        )
        handle = _AsyncHandle(
            client=client,
            admit=client.register_script(ADMIT_LUA),
            settle=client.register_script(SETTLE_LUA),
        )
        per_loop[url] = handle
    return handle


def sync_client() -> redis.Redis:
    url = settings.REDIS_URL
    client = _sync_clients.get(url)
    if client is None:
        with _lock:
            client = _sync_clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url, **_client_kwargs())
                _sync_clients[url] = client
    return client


# Per process: the counters Redis last reported per (user, day). If Redis then
# fails, the database fallback starts from at least these (see quota_db.admit).
_LAST_SEEN_MAX = 10_000
_last_seen: "OrderedDict[tuple[int, date], tuple[int, int]]" = OrderedDict()


def remember_counters(user_id: int, day: date, requests: int, tokens: int) -> None:
    _last_seen[(user_id, day)] = (requests, tokens)
    _last_seen.move_to_end((user_id, day))
    while len(_last_seen) > _LAST_SEEN_MAX:
        _last_seen.popitem(last=False)


def last_seen_counters(user_id: int, day: date) -> tuple[int, int] | None:
    return _last_seen.get((user_id, day))


# Per process: Redis admissions whose outcome this process does not know yet (in
# flight) or never learned (the call failed after it was sent: the script may have
# run). Each may have taken quota on Redis, so the database fallback counts them
# on top of the last-seen counters; a definite answer removes one.
_doubt_lock = threading.Lock()
_in_doubt: dict[tuple[int, date], dict[str, int]] = {}


def doubt_begin(user_id: int, day: date, call_id: str, tokens: int) -> None:
    with _doubt_lock:
        _in_doubt.setdefault((user_id, day), {})[call_id] = tokens


def doubt_end(user_id: int, day: date, call_id: str) -> None:
    with _doubt_lock:
        calls = _in_doubt.get((user_id, day))
        if calls is not None:
            calls.pop(call_id, None)
            if not calls:
                del _in_doubt[(user_id, day)]


def fallback_floor(user_id: int, day: date, *, call_id: str) -> tuple[int, int] | None:
    """Lower bound of the (requests, tokens) Redis may hold for the user's day: the
    last counters seen there plus every admission still in doubt except the
    caller's own (one call admitted twice still runs once)."""
    seen = _last_seen.get((user_id, day))
    with _doubt_lock:
        others = [
            tokens
            for cid, tokens in _in_doubt.get((user_id, day), {}).items()
            if cid != call_id
        ]
    if seen is None and not others:
        return None
    requests, tokens = seen or (0, 0)
    return requests + len(others), tokens + sum(others)


def event_json(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)
