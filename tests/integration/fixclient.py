"""A bare FIX initiator for exchange tests: numbers what it sends, keeps everything it receives."""
from __future__ import annotations

import asyncio
from typing import Any

from powerpeg.targets.fix.codec import FixMessage, FixParser, encode

COMP = "EXCHANGE"
WAIT_S = 30.0  # a hang guard, not a measurement


class Client:
    """A FIX initiator that numbers its messages and keeps everything it receives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, comp_id: str) -> None:
        self.reader, self.writer, self.comp_id = reader, writer, comp_id
        self.seq = 0
        self.parser = FixParser()
        self.received: list[FixMessage] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, port: int, comp_id: str) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer, comp_id)
        client.send("A", {98: 0, 108: 30})
        await client.wait_for(lambda m: m.msg_type == "A")
        return client

    def send(self, msg_type: str, fields: dict[int, Any]) -> None:
        self.seq += 1
        self.writer.write(encode(msg_type, self.comp_id, COMP, self.seq, list(fields.items())))

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            self.parser.feed(data)
            self.received.extend(self.parser.messages())
            self._arrived.set()

    async def wait_for(self, pred: Any) -> FixMessage:
        async def scan() -> FixMessage:
            seen = 0
            while True:
                for msg in self.received[seen:]:
                    if pred(msg):
                        return msg
                seen = len(self.received)
                self._arrived.clear()
                if self._task.done():
                    raise ConnectionError(f"{self.comp_id}: connection closed")
                await self._arrived.wait()
        return await asyncio.wait_for(scan(), WAIT_S)

    async def barrier(self) -> None:
        """A TestRequest, and its Heartbeat back: everything sent before it has been handled."""
        test_id = f"barrier-{self.seq + 1}"
        self.send("1", {112: test_id})
        await self.wait_for(lambda m: m.msg_type == "0" and m.get(112) == test_id)

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
