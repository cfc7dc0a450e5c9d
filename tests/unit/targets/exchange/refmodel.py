"""A reference model of the exchange's order entry, for differential tests.

Written to be obviously right rather than fast: per symbol one flat list of
resting orders, and every match step scans it for the best opposite order
(price first, then the arrival stamp ``prio``), filling at the resting price.
It shares no code with ``targets/exchange``: it reads the same FIX messages
the exchange gets and predicts, from docs/targets.md ("Order entry",
"Journal"), every message each session must receive and every journal line.

``Stream`` draws a seeded stream of order-entry messages (limit and market,
both sides, DAY and IOC, prices a few ticks around each symbol's reference so
that orders sweep several levels; cancels, cancel/replaces and mass cancels of
working, finished and unknown orders), asking the model which orders are
working so the requests are mostly meaningful. ``compare`` says where an
exchange's output first parts from the model's.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

BUY, SELL = 1, 2
MARKET, LIMIT = 1, 2
DAY, IOC = 0, 3
SIDE = {BUY: "buy", SELL: "sell"}
TT = "20240101-00:00:00.000"

# What is compared of each message a session receives (header, ExecID, times and free texts of
# rejects are not: they carry nothing the model predicts).
ER_TAGS = (37, 11, 41, 1, 55, 54, 38, 44, 40, 59, 150, 39, 32, 31, 14, 151, 6, 58)
COMPARED = {
    "8": ER_TAGS,
    "9": (37, 11, 41, 39, 434, 102),
    "r": (11, 530, 531, 532, 533),
    "j": (45, 372, 380),
    "3": (45, 372, 373),
}
ADMIN = frozenset({"0", "1", "2", "4", "5", "A"})


def px(cents: int | None) -> str:
    return "0" if cents is None else f"{cents // 100}.{cents % 100:02d}"


@dataclass(eq=False)
class MOrder:
    order_id: str
    cl: str
    session: str
    firm: str
    symbol: str
    side: int
    qty: int
    price: int | None
    ord_type: int
    tif: int
    prio: int
    cum: int = 0
    notional: int = 0
    done: bool = False

    @property
    def leaves(self) -> int:
        return 0 if self.done else self.qty - self.cum

    def status(self) -> str:
        if not self.done:
            return "1" if self.cum else "0"
        return "2" if self.cum >= self.qty else "4"


@dataclass
class MSession:
    comp_id: str
    firm: str
    working: list[MOrder] = field(default_factory=list)  # in entry order
    known: dict[str, MOrder] = field(default_factory=dict)  # every ClOrdID an accepted order had


class Model:
    """The venue as documented, one message at a time (``apply``), and what it must have said."""

    def __init__(self, symbols: dict[str, int]) -> None:
        self.ref = symbols
        self.resting: dict[str, list[MOrder]] = {s: [] for s in symbols}
        self.sessions: dict[str, MSession] = {}
        self.out: dict[str, list[tuple[str, dict[int, str]]]] = {}
        self.dropcopy: dict[str, list[tuple[str, dict[int, str]]]] = {}  # firm -> copies
        self.journal: list[dict[str, Any]] = []
        self.order_seq = self.match_seq = self.prio_seq = 0
        self.in_seq: dict[str, int] = {}  # the MsgSeqNum each session used last

    # -- sessions and outputs ------------------------------------------------------
    def logon(self, comp_id: str) -> None:
        self.sessions.setdefault(comp_id, MSession(comp_id, comp_id))
        self.out.setdefault(comp_id, [])
        self.in_seq[comp_id] = 1  # Logon

    def admin(self, comp_id: str) -> None:
        """The session sent an admin message (a TestRequest): it takes a MsgSeqNum."""
        self.in_seq[comp_id] += 1

    def watch(self, firm: str) -> None:
        self.dropcopy.setdefault(firm, [])

    def _send(self, comp_id: str, msg_type: str, fields: dict[int, str]) -> None:
        self.out[comp_id].append((msg_type, fields))

    def _er(self, o: MOrder, exec_type: str, status: str, last_qty: int = 0, last_px: int | None = None,
            text: str | None = None, cl: str | None = None, orig: str | None = None) -> None:
        f = {37: o.order_id, 11: cl or o.cl, 1: o.firm, 55: o.symbol, 54: str(o.side), 38: str(o.qty),
             40: str(o.ord_type), 59: str(o.tif), 150: exec_type, 39: status, 32: str(last_qty), 31: px(last_px),
             14: str(o.cum), 151: str(o.leaves), 6: "%.4f" % (o.notional / o.cum / 100) if o.cum else "0"}
        if orig:
            f[41] = orig
        if o.price is not None:
            f[44] = px(o.price)
        if text:
            f[58] = text
        self._send(o.session, "8", f)
        if o.firm in self.dropcopy:
            self.dropcopy[o.firm].append(("8", f))

    def _record(self, kind: str, o: MOrder, status: str, **extra: Any) -> None:
        rec = {"kind": kind, "session": o.session, "firm": o.firm, "cl_ord_id": o.cl, "order_id": o.order_id,
               "symbol": o.symbol, "side": SIDE[o.side], "qty": o.qty,
               "price": None if o.price is None else o.price / 100, "status": status}
        rec.update(extra)
        self.journal.append(rec)

    # -- the messages --------------------------------------------------------------
    def apply(self, comp_id: str, msg_type: str, fields: dict[int, Any]) -> None:
        f = {t: str(v) for t, v in fields.items() if v is not None}
        self.in_seq[comp_id] += 1
        st = self.sessions[comp_id]
        if msg_type == "D":
            self._new(st, f)
        elif msg_type == "F":
            self._cancel(st, f)
        elif msg_type == "G":
            self._replace(st, f)
        elif msg_type == "q":
            self._mass(st, f)
        else:  # a valid FIX application message the venue does not take
            self._send(comp_id, "j", {45: str(self.in_seq[comp_id]), 372: msg_type, 380: "3"})

    def _new(self, st: MSession, f: dict[int, str]) -> None:
        self.order_seq += 1
        ord_type = int(f[40])
        firm = f.get(1) or st.comp_id
        st.firm = firm
        o = MOrder(str(self.order_seq), f[11], st.comp_id, firm, f[55], int(f[54]), int(f[38]),
                   None if ord_type == MARKET else round(float(f[44]) * 100), ord_type, int(f.get(59, "0")), 0)
        text = None
        if o.symbol not in self.resting:
            text = f"unknown symbol {o.symbol}"
        elif o.cl in st.known:  # unique per session and day, also once its order is done
            text = f"duplicate ClOrdID {o.cl}"
        if text is not None:
            o.done = True
            self._record("rejected", o, "rejected", text=text)
            self._er(o, "8", "8", text=text)
            return
        self._record("accepted", o, "new")
        st.working.append(o)
        st.known[o.cl] = o
        self._er(o, "0", "0")
        self._execute(o)

    def _execute(self, o: MOrder) -> None:
        book = self.resting[o.symbol]
        while o.leaves:
            opposite = [r for r in book if r.side != o.side and r.leaves
                        and (o.price is None or (r.price <= o.price if o.side == BUY else r.price >= o.price))]
            if not opposite:
                break
            best = min(opposite, key=lambda r: (r.price if o.side == BUY else -r.price, r.prio))
            self._fill(o, best, min(o.leaves, best.leaves), best.price)
        if o.done:
            return
        if o.leaves == 0:
            self._finish(o)
        elif o.ord_type == MARKET:
            self._cancel_order(o, "market")
        elif o.tif == IOC:
            self._cancel_order(o, "ioc")
        else:
            self.prio_seq += 1
            o.prio = self.prio_seq
            book.append(o)

    def _fill(self, taker: MOrder, maker: MOrder, qty: int, price: int) -> None:
        self.match_seq += 1
        match_id = f"M{self.match_seq}"
        for o, liquidity in ((maker, "maker"), (taker, "taker")):
            o.cum += qty
            o.notional += qty * price
            filled = o.cum == o.qty
            if filled:
                self._finish(o)
            self._record("fill", o, "filled" if filled else "partially_filled", exec_qty=qty, exec_px=price / 100,
                         cum_qty=o.cum, leaves_qty=o.leaves, match_id=match_id, liquidity=liquidity)
            self._er(o, "F", "2" if filled else "1", qty, price)

    def _finish(self, o: MOrder) -> None:
        o.done = True
        st = self.sessions[o.session]
        if o in st.working:
            st.working.remove(o)
        book = self.resting[o.symbol]
        if o in book:
            book.remove(o)

    def _cancel_order(self, o: MOrder, reason: str, cl: str | None = None, orig: str | None = None) -> None:
        left = o.leaves
        self._finish(o)
        self._record("canceled", o, "canceled", reason=reason, cum_qty=o.cum, canceled_qty=left)
        self._er(o, "4", "4", text=f"canceled: {reason}", cl=cl, orig=orig)

    def _find(self, st: MSession, f: dict[int, str], response_to: str) -> MOrder | None:
        """The working order a cancel or replace names, or None after sending its OrderCancelReject."""
        orig = f[41]
        o = next((w for w in st.working if w.cl == orig), None)
        reason = None
        if o is None:
            old = st.known.get(orig)
            if old is not None and old.done:
                reason, o = "0", old  # too late
            elif old is not None:
                reason, o = "1", old  # a ClOrdID the order had before a replace
            else:
                self._send(st.comp_id, "9", {37: "NONE", 11: f[11], 41: orig, 39: "8", 434: response_to, 102: "1"})
                return None
        elif (o.symbol, str(o.side)) != (f[55], f[54]):
            reason = "99"
        if reason is None:
            return o
        self._send(st.comp_id, "9", {37: o.order_id, 11: f[11], 41: orig, 39: o.status(), 434: response_to,
                                     102: reason})
        return None

    def _cancel(self, st: MSession, f: dict[int, str]) -> None:
        o = self._find(st, f, "1")
        if o is not None:
            self._cancel_order(o, "user", cl=f[11], orig=f[41])

    def _replace(self, st: MSession, f: dict[int, str]) -> None:
        o = self._find(st, f, "2")
        if o is None:
            return
        reason = None
        if int(f[40]) != o.ord_type:
            reason = "99"
        elif f.get(1) and f[1] != o.firm:
            reason = "99"
        elif f[11] in st.known:
            reason = "6"
        if reason is not None:
            self._send(st.comp_id, "9", {37: o.order_id, 11: f[11], 41: f[41], 39: o.status(), 434: "2",
                                         102: reason})
            return
        qty = int(f[38])
        price = None if o.ord_type == MARKET else round(float(f[44]) * 100)
        prev_qty, prev_price = o.qty, o.price
        book = self.resting[o.symbol]
        requeue = False
        if qty <= o.cum:  # the rest is cancelled; filled takes precedence over canceled
            o.qty, o.price = o.cum, price
            self._finish(o)
        else:
            requeue = price != prev_price or qty > prev_qty
            o.qty, o.price = qty, price
            if requeue and o in book:
                book.remove(o)
        o.cl = f[11]
        st.known[o.cl] = o
        status = o.status()
        self._record("replaced", o, {"0": "new", "1": "partially_filled", "2": "filled"}[status],
                     orig_cl_ord_id=f[41], prev_qty=prev_qty,
                     prev_price=None if prev_price is None else prev_price / 100,
                     cum_qty=o.cum, leaves_qty=o.leaves, requeued=requeue)
        self._er(o, "5", status, cl=f[11], orig=f[41])
        if requeue:
            self._execute(o)

    def _mass(self, st: MSession, f: dict[int, str]) -> None:
        kind, cl = f[530], f[11]
        reject = None
        firm = f.get(1)
        if kind not in ("1", "7"):
            reject = "0"
        elif kind == "1" and f.get(55) not in self.resting:
            reject = "1"
        elif firm is not None and firm not in (st.comp_id, st.firm):
            reject = "99"
        if reject is not None:
            self._send(st.comp_id, "r", {11: cl, 530: kind, 531: "0", 532: reject})
            return
        if firm is None:
            scope, ident = "session", st.comp_id
            orders = list(st.working)
        else:
            scope, ident = "firm", firm
            orders = [w for s in self.sessions.values() for w in s.working if w.firm == firm]
        side = int(f[54]) if 54 in f else None
        symbol = f.get(55) if kind == "1" else None
        orders = sorted((o for o in orders if (symbol is None or o.symbol == symbol)
                         and (side is None or o.side == side)), key=lambda o: int(o.order_id))
        self.journal.append({
            "kind": "mass_cancel", "session": st.comp_id, "firm": firm if firm is not None else st.firm,
            "cl_ord_id": cl, "order_id": None, "symbol": symbol, "side": None if side is None else SIDE[side],
            "qty": None, "price": None, "status": None, "scope": scope, "id": ident, "request_type": int(kind),
            "cancelled": len(orders)})
        for o in orders:
            self._cancel_order(o, "mass")
        self._send(st.comp_id, "r", {11: cl, 530: kind, 531: kind, 533: str(len(orders))})


class Stream:
    """Seeded order-entry messages for a few sessions, drawn against the model's state.

    ``sessions`` maps CompID → Account (None: the order's firm is the CompID).
    """

    def __init__(self, seed: int, symbols: dict[str, int], sessions: dict[str, str | None], *,
                 replaces: bool = True, mass: bool = True) -> None:
        self.rng = random.Random(seed)
        self.symbols = symbols
        self.accounts = sessions
        self.replaces, self.mass = replaces, mass
        self.n = 0
        self.current: str | None = None
        self.run_left = 0

    def session(self) -> str:
        """Whose turn it is: the same session for a run of messages, then another."""
        if self.run_left <= 0 or self.current is None:
            self.current = self.rng.choice(list(self.accounts))
            self.run_left = self.rng.randint(1, 40)
        self.run_left -= 1
        return self.current

    def draw(self, model: Model, comp_id: str) -> tuple[str, dict[int, Any]]:
        """The next message of ``comp_id``, given what the model says is working now."""
        rng = self.rng
        self.n += 1
        cl = f"{comp_id}-{self.n}"
        st = model.sessions[comp_id]
        roll = rng.random()
        if roll < 0.16:
            return "F", self._amend_target(model, st, cl, {})
        if self.replaces and roll < 0.28:
            return "G", self._replace(model, st, cl)
        if self.mass and roll < 0.295:
            return "q", self._mass(st, cl)
        if roll < 0.30:
            return rng.choice(["R", "V", "AE"]), {131: cl, 55: rng.choice(list(self.symbols))}
        f = self._new(comp_id, cl)
        if st.known and rng.random() < 0.02:
            f[11] = rng.choice(list(st.known)[-50:])  # a ClOrdID of the day again: working, done or replaced
        return "D", f

    def _price(self, symbol: str) -> int:
        return self.symbols[symbol] + self.rng.randint(-6, 6)

    def _qty(self) -> int:
        rng = self.rng
        return rng.randint(1, 100) if rng.random() < 0.8 else rng.randint(100, 900)

    def _new(self, comp_id: str, cl: str) -> dict[int, Any]:
        rng = self.rng
        symbol = rng.choice(list(self.symbols)) if rng.random() > 0.01 else "NOPE"
        side = rng.choice([BUY, SELL])
        market = rng.random() < 0.08
        f: dict[int, Any] = {11: cl, 1: self.accounts[comp_id], 55: symbol, 54: side, 38: self._qty(),
                             40: MARKET if market else LIMIT, 60: TT}
        if not market:
            f[44] = px(self._price(symbol) if symbol in self.symbols else 1000)
            tif = rng.choice([None, DAY, DAY, IOC])
            if tif is not None:
                f[59] = tif
        return f

    def _pick(self, model: Model, st: MSession) -> tuple[str, MOrder | None]:
        """A ClOrdID to amend: mostly a working order's, else a finished, superseded or unknown one."""
        rng = self.rng
        roll = rng.random()
        if st.working and roll < 0.75:
            o = rng.choice(st.working)
            return o.cl, o
        if st.known and roll < 0.95:
            name = rng.choice(list(st.known)[-50:])
            return name, st.known[name]
        return f"nobody-{rng.randint(1, 10**6)}", None

    def _amend_target(self, model: Model, st: MSession, cl: str, f: dict[int, Any]) -> dict[int, Any]:
        name, o = self._pick(model, st)
        symbol, side = (o.symbol, o.side) if o is not None else (next(iter(self.symbols)), BUY)
        if self.rng.random() < 0.03:
            side = SELL if side == BUY else BUY  # a mismatch
        return {41: name, 11: cl, 55: symbol, 54: side, 60: TT, **f}

    def _replace(self, model: Model, st: MSession, cl: str) -> dict[int, Any]:
        rng = self.rng
        f = self._amend_target(model, st, cl, {})
        o = st.known.get(f[41]) or next((w for w in st.working if w.cl == f[41]), None)
        ord_type = o.ord_type if o is not None else LIMIT
        qty = o.qty if o is not None else 100
        price = o.price if o is not None and o.price is not None else self._price(f[55])
        roll = rng.random()
        if roll < 0.35:
            qty = max(1, qty - rng.randint(1, max(1, qty)))  # decrease, sometimes below what executed
        elif roll < 0.55:
            qty += rng.randint(1, 300)
        elif roll < 0.9:
            price = self._price(f[55])
        else:
            qty, price = self._qty(), self._price(f[55])
        f.update({38: qty, 40: ord_type})
        if ord_type == LIMIT:
            f[44] = px(price)
        if rng.random() < 0.02:
            f[11] = st.working[0].cl if st.working else cl  # a duplicate ClOrdID
        if rng.random() < 0.02:
            f[40] = MARKET if ord_type == LIMIT else LIMIT
            f[44] = px(price)
        return f

    def _mass(self, st: MSession, cl: str) -> dict[int, Any]:
        rng = self.rng
        f: dict[int, Any] = {11: cl, 60: TT}
        roll = rng.random()
        f[530] = "1" if roll < 0.5 else "7" if roll < 0.9 else rng.choice(["2", "3", "6"])
        if f[530] == "1":
            f[55] = rng.choice(list(self.symbols)) if rng.random() > 0.05 else "NOPE"
        if rng.random() < 0.3:
            f[54] = rng.choice([BUY, SELL])
        roll = rng.random()
        if roll < 0.3:
            f[1] = st.firm
        elif roll < 0.35:
            f[1] = "SOMEONE-ELSE"
        return f


def received(messages: list[Any]) -> list[tuple[str, dict[int, str]]]:
    """The compared part of what a session got (FixMessage list), admin messages left out."""
    out = []
    for m in messages:
        if m.msg_type in ADMIN:
            continue
        tags = COMPARED.get(m.msg_type, ())
        out.append((m.msg_type, {t: m.fields[t] for t in tags if t in m.fields}))
    return out


def journal_view(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Journal records without their times (and without the market's open)."""
    return [{k: v for k, v in r.items() if k != "ts_ns"} for r in records if r["kind"] != "open"]


def first_difference(name: str, expected: list[Any], actual: list[Any]) -> str | None:
    """None when equal, else where and how ``actual`` first parts from ``expected``."""
    for i, (e, a) in enumerate(zip(expected, actual, strict=False)):  # unequal lengths: said below
        if e != a:
            context = "\n".join(f"    {x}" for x in expected[max(0, i - 3):i])
            return (f"{name}: item {i} of {len(expected)} differs\n  after:\n{context}\n"
                    f"  expected: {e}\n  actual:   {a}")
    if len(expected) != len(actual):
        extra = expected[len(actual):len(actual) + 3] or actual[len(expected):len(expected) + 3]
        return f"{name}: {len(expected)} expected, {len(actual)} actual; first unmatched: {extra}"
    return None
