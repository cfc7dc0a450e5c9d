"""What a fleet shows outside tools: the FIX logons an outside engine needs."""
from __future__ import annotations

from powerpeg.harness.topology import Topology, fix_credentials, fix_password, fleet_comp_ids
from powerpeg.targets.fix.credentials import Credentials
from powerpeg.targets.fix.codec import FixMessage

from tests.unit.harness.test_state import make_topology


def test_passwords_differ_per_compid_and_per_run() -> None:
    """Derived from the run's token: another CompID or another run, another password."""
    passwords = {fix_password("tok", "ROUTER-1"), fix_password("tok", "ROUTER-2"), fix_password("tok2", "ROUTER-1")}
    assert (3, {32}) == (len(passwords), {len(p) for p in passwords})


def test_fleet_compids_are_the_routers_the_firm_and_the_clients() -> None:
    """Routers' CompIDs (ids in upper case), the firm's, the outside clients', each once."""
    assert ["ROUTER-1", "ROUTER-2", "KNIGHT", "ENGINE"] == fleet_comp_ids(["router-1", "router-2"], "KNIGHT",
                                                                          ["ENGINE", "KNIGHT"])


def test_the_credentials_table_is_one_the_exchange_accepts() -> None:
    """The harness's table loads as the exchange's, and a Logon with the derived password passes it."""
    table = Credentials.from_json(fix_credentials("tok", ["ROUTER-1", "KNIGHT"], "KNIGHT"))
    logon = FixMessage("A", {49: "ROUTER-1", 553: "ROUTER-1", 554: fix_password("tok", "ROUTER-1")})
    assert (None, "KNIGHT", None) == (table.refusal(logon), table.firm_of("KNIGHT"), table.firm_of("ROUTER-1"))


def test_status_json_shows_what_an_outside_engine_needs() -> None:
    """`status --json` "fix": the doors, the exchange's CompID, each CompID's username, password and doors."""
    topology: Topology = make_topology()
    topology = Topology.from_json({**topology.to_json(), "fix_clients": ["ENGINE"]})
    fix = topology.status_json()["fix"]
    assert ("127.0.0.1:1001", "127.0.0.1:1002", "EXCHANGE") == (fix["order_entry"], fix["drop_copy"],
                                                                 fix["target_comp_id"])
    assert {"ROUTER-1": ["order-entry"], "KNIGHT": ["order-entry", "drop-copy"], "ENGINE": ["order-entry"]} == {
        c: logon["doors"] for c, logon in fix["logons"].items()}
    assert (("ENGINE", fix_password("tok", "ENGINE")), [(553, "KNIGHT"), (554, fix_password("tok", "KNIGHT"))]) == (
        (fix["logons"]["ENGINE"]["username"], fix["logons"]["ENGINE"]["password"]), topology.fix_logon("KNIGHT"))


def test_fleet_comp_ids_may_trade_for_the_firm_and_themselves_only() -> None:
    """The fleet's accounts table: every CompID for the firm's account and its own (Account(1) absent), none
    for another's."""
    table = Credentials.from_json(fix_credentials("tok", ["ROUTER-1", "CODTEST", "KNIGHT"], "KNIGHT"))
    assert (frozenset({"KNIGHT", "ROUTER-1"}), frozenset({"KNIGHT", "CODTEST"}), frozenset({"KNIGHT"})) == (
        table.accounts_of("ROUTER-1"), table.accounts_of("CODTEST"), table.accounts_of("KNIGHT"))
