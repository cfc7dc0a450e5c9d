"""The venue's view of each member session on /metrics: orders and executed shares of the session's
current FIX day, when that day began, and the drop-copy listeners (what a firm's alert rules read)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from powerpeg.targets.exchange.book import BUY, SELL
from powerpeg.targets.exchange.http import EngineCollector

from .venue import Recorder, Venue


def scrape(venue: Venue) -> set[str]:
    registry = CollectorRegistry()
    registry.register(EngineCollector(venue.engine))
    return set(generate_latest(registry).decode().splitlines())


def test_orders_and_executed_shares_are_counted_per_session(venue) -> None:
    """Each NewOrderSingle counts on its session; each fill's shares on both sides' sessions."""
    a, b = venue.login("ROUTER-1"), venue.login("ROUTER-2")
    venue.order(a, "p-1.1", BUY, 300, 1000, firm="KNIGHT")
    venue.order(b, "q-1.1", SELL, 200, 1000, firm="OTHER")
    venue.order(b, "q-1.2", SELL, 50, 1100, firm="OTHER")
    lines = scrape(venue)
    assert {'powerpeg_exchange_session_orders_total{firm="KNIGHT",session="ROUTER-1"} 1.0',
            'powerpeg_exchange_session_orders_total{firm="OTHER",session="ROUTER-2"} 2.0',
            'powerpeg_exchange_session_executed_shares_total{firm="KNIGHT",session="ROUTER-1"} 200.0',
            'powerpeg_exchange_session_executed_shares_total{firm="OTHER",session="ROUTER-2"} 200.0'} <= lines


def test_a_logon_with_reset_starts_a_new_day(venue) -> None:
    """141=Y (a restarted router) starts the session's day counters over; a reconnect without it does not."""
    a, b = venue.login("ROUTER-1"), venue.login("ROUTER-2")
    venue.order(a, "p-1.1", BUY, 100, 1000, firm="KNIGHT")
    venue.order(b, "q-1.1", SELL, 100, 1000, firm="KNIGHT")
    first_day = a.day_started_ns
    venue.engine.attach("ROUTER-1", Recorder(), cod=True)
    assert (1, 100, first_day) == (a.day_orders, a.day_executed, a.day_started_ns)
    venue.engine.attach("ROUTER-1", Recorder(), cod=True, new_day=True)
    assert (0, 0) == (a.day_orders, a.day_executed) and a.day_started_ns >= first_day
    assert any(line.startswith('powerpeg_exchange_session_day_start_time_seconds{firm="KNIGHT",session="ROUTER-1"}')
               for line in scrape(venue))


def test_dropcopy_listeners_are_counted_per_firm(venue) -> None:
    """powerpeg_exchange_dropcopy_sessions counts the firm's listeners logged on now."""
    venue.engine.add_dropcopy("KNIGHT", Recorder())
    venue.engine.add_dropcopy("KNIGHT", Recorder())
    assert 'powerpeg_exchange_dropcopy_sessions{firm="KNIGHT"} 2.0' in scrape(venue)
