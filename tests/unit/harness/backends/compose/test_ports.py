"""Published ports are chosen below the kernel's ephemeral range, where no outgoing connection can take them."""
from __future__ import annotations

import socket

from powerpeg.harness.backends.compose import env
from powerpeg.harness.backends.compose.env import HostPorts, free_port


def test_a_published_port_is_below_the_ephemeral_range_and_free() -> None:
    low = env._ephemeral_low()
    ports = [free_port() for _ in range(20)]
    for port in ports:
        with socket.socket() as sock:
            sock.bind((env.HOST, port))  # free: binds
    assert all(env.PUBLISH_MIN <= p < low for p in ports), (low, ports)


def test_a_taken_port_is_never_chosen(monkeypatch) -> None:
    """With the range narrowed to 1,000 ports and every other one of them bound elsewhere, only free ones of
    the range are chosen."""
    monkeypatch.setattr(env, "_ephemeral_low", lambda: env.PUBLISH_MIN + 1_000)
    held = []
    try:
        for port in range(env.PUBLISH_MIN, env.PUBLISH_MIN + 1_000, 2):
            sock = socket.socket()
            try:
                sock.bind((env.HOST, port))
            except OSError:  # taken already: all the better
                sock.close()
                continue
            held.append(sock)
        taken = {s.getsockname()[1] for s in held}
        chosen = {free_port() for _ in range(20)}
        assert (set(), True) == (chosen & taken, all(env.PUBLISH_MIN <= p < env.PUBLISH_MIN + 1_000 for p in chosen))
    finally:
        for sock in held:
            sock.close()


def test_without_room_below_the_range_the_kernel_picks(monkeypatch) -> None:
    monkeypatch.setattr(env, "_ephemeral_low", lambda: env.PUBLISH_MIN + 10)
    port = free_port()
    with socket.socket() as sock:
        sock.bind((env.HOST, port))
    assert port >= 1024


def test_every_port_of_a_fleet_is_distinct() -> None:
    ports = HostPorts.allocate([f"router-{i}" for i in range(1, 9)])
    flat = [ports.exchange_admin, ports.exchange_fix, ports.exchange_dropcopy, ports.alerts, ports.monitor,
            ports.toxiproxy, *(p for _, p in ports.routers)]
    assert len(set(flat)) == len(flat) == 14
