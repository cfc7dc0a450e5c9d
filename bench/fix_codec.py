"""FIX codec: simplefix against powerpeg's split-based codec.

Parses and encodes the same NewOrderSingle many times and prints the median
messages/s of 5 rounds for each. This is the measurement behind the choice of
codec recorded in targets/fix/codec.py.
"""
from __future__ import annotations

import statistics
import time

import simplefix

from powerpeg.targets.fix.codec import FixParser, Tag, encode

N = 20_000
ROUNDS = 5
CHUNK = 65536  # what one socket read hands the parser under load
FIELDS = [
    (Tag.ClOrdID, "router-8-000042.17"), (Tag.Account, "KNIGHT"), (Tag.Symbol, "EBAY"), (Tag.Side, 1),
    (Tag.TransactTime, "20120801-13:30:00.000"), (Tag.OrderQty, 100), (Tag.OrdType, 2), (Tag.Price, "25.31"),
    (Tag.TimeInForce, 0),
]


def _median_rate(fn) -> float:
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        rates.append(N / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> dict[str, float]:
    wire = encode("D", "ROUTER-8", "EXCHANGE", 1, FIELDS) * N

    chunks = [wire[i:i + CHUNK] for i in range(0, len(wire), CHUNK)]

    def ours_parse() -> None:
        parser = FixParser()
        count = 0
        for chunk in chunks:
            parser.feed(chunk)
            count += sum(1 for _ in parser.messages())
        assert count == N

    def simplefix_parse() -> None:
        # fed read by read, as a session would: one big buffer is quadratic in simplefix
        parser = simplefix.FixParser()
        count = 0
        for chunk in chunks:
            parser.append_buffer(chunk)
            while parser.get_message() is not None:
                count += 1
        assert count == N

    def ours_encode() -> None:
        for seq in range(N):
            encode("D", "ROUTER-8", "EXCHANGE", seq, FIELDS)

    def simplefix_encode() -> None:
        for seq in range(N):
            msg = simplefix.FixMessage()
            msg.append_pair(8, "FIX.4.4")
            msg.append_pair(35, "D")
            msg.append_pair(49, "ROUTER-8")
            msg.append_pair(56, "EXCHANGE")
            msg.append_pair(34, seq)
            msg.append_utc_timestamp(52)
            for tag, value in FIELDS:
                msg.append_pair(tag, value)
            msg.encode()

    results = {
        "parse_powerpeg_msgs_per_s": _median_rate(ours_parse),
        "parse_simplefix_msgs_per_s": _median_rate(simplefix_parse),
        "encode_powerpeg_msgs_per_s": _median_rate(ours_encode),
        "encode_simplefix_msgs_per_s": _median_rate(simplefix_encode),
    }
    for name, value in results.items():
        print(f"fix_codec {name} median={value:,.0f}")
    return results


if __name__ == "__main__":
    main()
