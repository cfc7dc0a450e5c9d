"""The order load: Locust brokers in subprocesses, their live knobs, their stats.

``locustfile.py`` runs only inside Locust; everything else is the harness side.
"""
from .config import LoadConfig, RouterTarget, SymbolRef, router_targets
from .control import LoadControl
from .runner import LoadError, LoadRunner, config_for_fleet, fetch_universe
from .stats import LoadStats, read_parents

__all__ = ["LoadConfig", "LoadControl", "LoadError", "LoadRunner", "LoadStats", "RouterTarget", "SymbolRef",
           "config_for_fleet", "fetch_universe", "read_parents", "router_targets"]
