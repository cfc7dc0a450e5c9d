"""The alert sink's receiver routes: --route flags, --routes-file, defaults, GET /routes."""
from __future__ import annotations

from pathlib import Path

import pytest

from powerpeg.targets.alerts.config import build_routes, parse
from powerpeg.targets.common.service import ConfigError

from .payloads import ROUTING_KEY


def test_no_flags_route_every_alertmanager_receiver_to_page() -> None:
    """With no routes at all (the harness's fleets), any Alertmanager receiver pages and no routing key is known."""
    cfg = parse([])
    assert ("page", None) == (cfg.routes.for_receiver("anything"), cfg.routes.for_routing_key(ROUTING_KEY))


def test_route_flags_map_receivers_and_routing_keys() -> None:
    """--route alertmanager:NAME=CHANNEL and pagerduty:KEY=CHANNEL set those routes."""
    cfg = parse(["--route", "alertmanager:slack=chat", "--route", f"pagerduty:{ROUTING_KEY}=phone"])
    assert ("chat", "phone") == (cfg.routes.for_receiver("slack"), cfg.routes.for_routing_key(ROUTING_KEY))


def test_star_sets_the_alertmanager_default() -> None:
    """alertmanager:*=email sends unlisted receivers to email; *=none refuses them."""
    email = build_routes(flags=["alertmanager:*=email"]).for_receiver("x")
    refused = build_routes(flags=["alertmanager:*=none"]).for_receiver("x")
    assert ("email", None) == (email, refused)


def test_receiver_names_may_hold_colons_and_equals() -> None:
    """The channel is what follows the last '=': a receiver named a=b:c still routes."""
    assert "chat" == build_routes(flags=["alertmanager:a=b:c=chat"]).for_receiver("a=b:c")


@pytest.mark.parametrize(("flag", "says"), [
    ("alertmanager:x=sms", "unknown channel 'sms'"),
    ("opsgenie:x=page", "unknown receiver kind 'opsgenie'"),
    ("alertmanager:x", "expected KIND:KEY=CHANNEL"),
    ("alertmanager:=page", "empty receiver name"),
    ("pagerduty:*=page", "name each routing key"),
    ("pagerduty:k=none", "unknown channel 'none'"),
])
def test_bad_route_is_a_config_error_naming_it(flag, says) -> None:
    """A route that cannot be used is a ConfigError quoting the flag and saying why."""
    with pytest.raises(ConfigError) as info:
        build_routes(flags=[flag])
    assert (f"--route {flag}", True) == (str(info.value).split(": ")[0], says in str(info.value))


def test_bad_route_flag_exits_2(capsys) -> None:
    """python -m powerpeg.targets.alerts with a bad --route is a usage error, exit 2."""
    with pytest.raises(SystemExit) as info:
        parse(["--route", "alertmanager:x=sms"])
    assert (2, True) == (info.value.code, "--route alertmanager:x=sms" in capsys.readouterr().err)


def test_routes_file_then_flags(tmp_path: Path) -> None:
    """The YAML file's routes apply, and a --route flag overrides the file's entry."""
    path = tmp_path / "routes.yaml"
    path.write_text(f'alertmanager:\n  "*": email\n  pager: page\npagerduty:\n  {ROUTING_KEY}: phone\n')
    cfg = parse(["--routes-file", str(path), "--route", "alertmanager:pager=chat"])
    routes = cfg.routes
    assert ("email", "chat", "phone") == (routes.for_receiver("x"), routes.for_receiver("pager"),
                                          routes.for_routing_key(ROUTING_KEY))


def test_routes_file_with_a_bad_channel_names_the_entry(tmp_path: Path) -> None:
    """A bad channel in the file is a ConfigError naming the file, the kind and the key."""
    path = tmp_path / "routes.yaml"
    path.write_text("alertmanager:\n  pager: sms\n")
    with pytest.raises(ConfigError, match=r"routes.yaml: alertmanager: pager: unknown channel 'sms'"):
        build_routes(routes_file=path)


def test_missing_routes_file_is_a_config_error(tmp_path: Path) -> None:
    """A routes file that cannot be read is a ConfigError naming the flag."""
    with pytest.raises(ConfigError, match="--routes-file"):
        build_routes(routes_file=tmp_path / "absent.yaml")


async def test_get_routes_shows_routing_keys_by_hint_only(client) -> None:
    """GET /routes lists receivers and channels, and a routing key only by its last 4 characters."""
    routes = await (await client.get("/routes")).json()
    assert ({"trading-pager": "page", "trading-chat": "chat"}, "page", [{"key": "…cdef", "channel": "page"}],
            False) == (routes["alertmanager"]["receivers"], routes["alertmanager"]["default"],
                       routes["pagerduty"]["routing_keys"], ROUTING_KEY in str(routes))
