"""kombu's Redis transport with a fetch that a broker restart cannot lose.

kombu takes a message with `BRPOP` and only then records it as unacknowledged (`ZADD
unacked_index`, `HSET unacked`, one `MULTI`). Between the two the message is nowhere but in
flight: when Redis stops there (`SHUTDOWN SAVE` after the pop's reply was written, or the
record refused because the server is gone), the message is lost. tests/peers/test_broker.py
lost one in 3 of 13 restarts (the monitor showed the last `BRPOP` before the shutdown, and no
`HSET` of its message ever).

Here, as in the other services' workers, the fetch is atomic: `BLMOVE <queue>
<queue>:processing RIGHT LEFT` takes the same end `BRPOP` does (FIFO) into a list the broker
keeps, and the `MULTI` that records the message as unacknowledged also removes it from
`<queue>:processing` (`LREM`), so at every moment the message is in the queue, in processing or
in `unacked`. Whatever a consumer leaves in processing (it lost its connection or was killed
between the two) is moved back to the queue when a consumer of that queue starts
(`basic_consume`), before its first fetch: at least once, as kombu's `unacked` is. A message
that is not JSON cannot be delivered: it is moved to `<queue>:dead` with an error in the log.

Applies when a channel consumes one queue without priorities (`priority_steps` [0], which
celery_app sets) and without a key prefix; otherwise kombu's own `BRPOP` runs.
"""

from __future__ import annotations

import logging
from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

log = logging.getLogger(__name__)


def processing_key(queue: str) -> str:
    """The list a fetched message waits in until it is recorded as unacknowledged."""
    return f"{queue}:processing"


def dead_key(queue: str) -> str:
    """The list a message that cannot be decoded is moved to."""
    return f"{queue}:dead"


class ReliableQoS(kombu_redis.QoS):
    """kombu's QoS whose unacked record also takes the message out of `<queue>:processing`."""

    def append(self, message: Any, delivery_tag: str) -> None:
        """Record `message` as unacknowledged and, in the same MULTI, drop its processing copy."""
        channel = self.channel
        inflight = channel.take_inflight()
        if inflight is None:
            super().append(message, delivery_tag)
            return
        # kombu's own record (QoS.append), with the LREM in its MULTI: no extra round trip per task.
        processing, item = inflight
        delivery = message.delivery_info
        record = kombu_redis.dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: kombu_redis.time()}) \
                .hset(self.unacked_key, delivery_tag, record) \
                .lrem(processing, 1, item) \
                .execute()
        virtual.QoS.append(self, message, delivery_tag)


class ReliableChannel(kombu_redis.Channel):
    """kombu's Redis channel fetching with `BLMOVE` into `<queue>:processing`."""

    QoS = ReliableQoS
    _fetching: str | None = None  # the queue of the BLMOVE in flight (None: kombu's BRPOP)
    _inflight: tuple[str, bytes] | None = None  # (processing list, raw message) being delivered

    def take_inflight(self) -> tuple[str, bytes] | None:
        """The message being delivered, once (ReliableQoS.append records it)."""
        inflight, self._inflight = self._inflight, None
        return inflight

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        """Put back what an earlier consumer left in processing, then consume as kombu does."""
        if queue not in self._fanout_queues:
            self._recover(queue)
        return super().basic_consume(queue, *args, **kwargs)

    def _recover(self, queue: str) -> None:
        moved = 0
        with self.conn_or_acquire() as client:
            while client.lmove(processing_key(queue), queue, "RIGHT", "RIGHT") is not None:
                moved += 1
        if moved:
            log.warning("recovered %d message(s) from %s: fetched by a consumer that stopped before "
                        "recording them; they run again (at least once)", moved, processing_key(queue))

    def _reliable(self, queues: list[str]) -> bool:
        return len(queues) == 1 and list(self.priority_steps) == [0] and not self.global_keyprefix

    def _brpop_start(self, timeout: float | None = None) -> None:
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues or not self._reliable(queues):
            self._fetching = None
            super()._brpop_start(timeout)
            return
        (queue,) = queues
        self._fetching = queue
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()  # type: ignore[assignment]  # kombu declares it `= None`
        wait = self.brpop_timeout if timeout is None else timeout
        self.client.connection.send_command("BLMOVE", queue, processing_key(queue), "RIGHT", "LEFT",
                                            wait or 0)

    def _brpop_read(self, **options: Any) -> bool:
        queue = self._fetching
        if queue is None:
            return bool(super()._brpop_read(**options))
        try:
            try:
                item = self.client.parse_response(self.client.connection, "BLMOVE", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # the next fetch reconnects
                raise
            if item is None:
                raise Empty()
            self._queue_cycle.rotate(queue)
            self._deliver_fetched(queue, item)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu's _brpop_read (declared `= False`)
            self._flush_brpop_reauth()

    def _deliver_fetched(self, queue: str, item: bytes) -> None:
        processing = processing_key(queue)
        try:
            payload = loads(bytes_to_str(item))
        except ValueError as e:
            with self.conn_or_acquire() as client:
                client.pipeline().lrem(processing, 1, item).lpush(dead_key(queue), item).execute()
            log.error("a message on %s is not JSON (%s), moved to %s: %r", queue, e, dead_key(queue),
                      item[:80])
            raise Empty() from None
        self._inflight = (processing, item)
        try:
            self.connection._deliver(payload, queue)
        except BaseException:
            self._inflight = None  # not delivered: it stays in processing; a consumer's start puts it back
            raise
        if self.take_inflight() is not None:  # delivered without an ack to wait for: nothing to keep
            with self.conn_or_acquire() as client:
                client.lrem(processing, 1, item)


class ReliableTransport(kombu_redis.Transport):
    """kombu's Redis transport with ReliableChannel (celery_app: `broker_transport`)."""

    Channel = ReliableChannel
