"""The exchange's flags: the journal's segment size and the FIX intake budget, checked at the edge."""
from __future__ import annotations

import pytest

from powerpeg.targets.common.service import ConfigError
from powerpeg.targets.exchange.config import INTAKE_BUDGET, build_parser, from_args
from powerpeg.targets.exchange.journal import SEGMENT_BYTES


def config(*argv: str):
    return from_args(build_parser().parse_args(list(argv)))


def test_defaults_segment_the_journal_and_bound_the_intake() -> None:
    """Without the flags: 64 MiB journal segments, 64 messages a turn and half a millisecond."""
    cfg = config()
    assert (SEGMENT_BYTES, INTAKE_BUDGET, 0.0005) == (cfg.journal_segment_bytes, cfg.intake_budget,
                                                      cfg.intake_slice_s)


def test_flags_set_them() -> None:
    """--journal-segment-mb takes fractions of a MiB (tests rotate every few records); --intake-budget a count."""
    cfg = config("--journal-segment-mb", "0.5", "--intake-budget", "200", "--intake-slice-ms", "2")
    assert (1 << 19, 200, 0.002) == (cfg.journal_segment_bytes, cfg.intake_budget, cfg.intake_slice_s)


@pytest.mark.parametrize(("argv", "named"), [
    (("--journal-segment-mb", "0"), "--journal-segment-mb"),
    (("--journal-segment-mb", "nan"), "--journal-segment-mb"),
    (("--journal-segment-mb", "-3"), "--journal-segment-mb"),
    (("--intake-budget", "0"), "--intake-budget"),
    (("--intake-budget", "-1"), "--intake-budget"),
    (("--intake-slice-ms", "0"), "--intake-slice-ms"),
    (("--intake-slice-ms", "nan"), "--intake-slice-ms"),
    (("--intake-slice-ms", "5000"), "--intake-slice-ms"),
])
def test_bad_values_are_refused_naming_the_flag(argv: tuple[str, ...], named: str) -> None:
    """A size or a budget that cannot work is a ConfigError naming its flag, not a crash later."""
    with pytest.raises(ConfigError, match=named):
        config(*argv)
