"""topology.working_children: the slicer's parallelism, from the experiment file to the router's command line."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.plan import fleet_spec
from powerpeg.targets.router.config import parse


def _exp(**topology):
    return Experiment.model_validate({"name": "x", "topology": topology})


def _router_config(exp: Experiment):
    spec = fleet_spec(exp, toxiproxy=False)
    return parse(["--id", "router-1", "--exchange", "127.0.0.1:1", "--exchange-admin", "http://127.0.0.1:2",
                  *spec.router_args])


def test_the_router_slices_with_the_files_working_children() -> None:
    assert (1, 10) == (_router_config(_exp()).max_working_children,
                       _router_config(_exp(working_children=10)).max_working_children)


def test_the_default_adds_no_flag() -> None:
    assert "--max-working-children" not in fleet_spec(_exp(), toxiproxy=False).router_args


@pytest.mark.parametrize("value", [0, 101, "ten"])
def test_out_of_range_is_refused_naming_the_field(value) -> None:
    with pytest.raises(ValidationError) as err:
        _exp(working_children=value)
    assert ("topology", "working_children") == err.value.errors()[0]["loc"]
