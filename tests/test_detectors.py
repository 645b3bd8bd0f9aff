"""Pure detector tables, including the worked examples of ElastAlert 2's spike documentation."""

from __future__ import annotations

import pytest

from monitor.alerts.detectors import frequency_fires, spike_direction, spike_fires


@pytest.mark.parametrize(("count", "num_events", "fires"), [
    (0, 1, False), (1, 1, True), (9, 10, False), (10, 10, True), (11, 10, True),   # inclusive, as documented
])
def test_frequency(count: int, num_events: int, fires: bool) -> None:
    assert frequency_fires(count, num_events) is fires


@pytest.mark.parametrize(("cur", "ref", "kw", "expected"), [
    # up is inclusive: cur >= ref * height (ElastAlert's code)
    (6, 2, {"spike_type": "up"}, "up"),
    (5, 2, {"spike_type": "up"}, None),
    # down is inclusive: cur <= ref / height
    (1, 3, {"spike_type": "down"}, "down"),
    (2, 3, {"spike_type": "down"}, None),
    (0, 3, {"spike_type": "down"}, "down"),
    (6, 2, {"spike_type": "down"}, None),
    (1, 3, {"spike_type": "up"}, None),
    (6, 2, {"spike_type": "both"}, "up"),
    (1, 3, {"spike_type": "both"}, "down"),
    (4, 3, {"spike_type": "both"}, None),
    # thresholds are minimums (inclusive) on each window
    (6, 2, {"spike_type": "up", "threshold_cur": 6}, "up"),
    (6, 2, {"spike_type": "up", "threshold_cur": 7}, None),
    (6, 2, {"spike_type": "up", "threshold_ref": 2}, "up"),
    (6, 2, {"spike_type": "up", "threshold_ref": 3}, None),
    # no alert before the reference window has been filled once
    (60, 2, {"spike_type": "up", "ref_filled": False}, None),
    # ElastAlert quirk, kept: a reference of 0 without thresholds fires on any current count
    (1, 0, {"spike_type": "up"}, "up"),
    (1, 0, {"spike_type": "both"}, "up"),
    # ... which threshold_ref (or threshold_cur) is the documented remedy for
    (1, 0, {"spike_type": "up", "threshold_ref": 1}, None),
    (1, 0, {"spike_type": "up", "threshold_cur": 5}, None),
    # deliberate deviation: 0 against 0 is no spike in either direction
    (0, 0, {"spike_type": "both"}, None),
])
def test_spike_table(cur: int, ref: int, kw: dict[str, object], expected: str | None) -> None:
    args: dict[str, object] = {"spike_height": 3, **kw}
    assert spike_direction(cur, ref, **args) == expected  # type: ignore[arg-type]
    assert spike_fires(cur, ref, **args) is (expected is not None)  # type: ignore[arg-type]


def test_spike_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="spike_height"):
        spike_fires(1, 1, spike_height=0, spike_type="up")
    with pytest.raises(ValueError, match="spike_type"):
        spike_fires(1, 1, spike_height=2, spike_type="sideways")


# ElastAlert 2 docs (ruletypes, "Spike"): timeframe 2 hours, one line per hour with that hour's events,
# the (ref, cur) the docs state, and whether it alerts. The reference window counts as filled once
# two timeframes (4 hours) have passed since the rule started.
DOC_EXAMPLES = [
    ("15 in 2h, quarter before (1)", {"spike_height": 4, "threshold_cur": 15},
     [(5, 0, 5, False), (5, 0, 10, False), (10, 5, 15, False), (35, 10, 45, True)]),
    ("15 in 2h, quarter before (2)", {"spike_height": 4, "threshold_cur": 15},
     [(20, 0, 20, False), (21, 0, 41, False), (19, 20, 40, False), (23, 41, 42, False)]),
    ("15 in 2h, quarter before (3)", {"spike_height": 4, "threshold_cur": 15},
     [(10, 0, 10, False), (0, 0, 10, False), (0, 10, 0, False), (30, 10, 30, False), (5, 0, 35, True)]),
    ("5 before, twice now (1)", {"spike_height": 2, "threshold_ref": 5},
     [(20, 0, 20, False), (100, 0, 120, False), (100, 20, 200, False), (100, 120, 200, False)]),
    ("5 before, twice now (2)", {"spike_height": 2, "threshold_ref": 5},
     [(0, 0, 0, False), (20, 0, 20, False), (100, 0, 120, False), (100, 20, 200, True)]),
    ("5 before, twice now (3)", {"spike_height": 2, "threshold_ref": 5},
     [(1, 0, 1, False), (2, 0, 3, False), (2, 1, 4, False), (1000, 3, 1002, False), (2, 4, 1002, False),
      (4, 1002, 6, False)]),
    ("5 before, twice now (4)", {"spike_height": 2, "threshold_ref": 5},
     [(1000, 0, 1000, False), (0, 0, 1000, False), (0, 1000, 0, False), (0, 1000, 0, False),
      (1000, 0, 1000, False), (1050, 0, 2050, False), (1075, 1000, 2125, True)]),
    ("100 in 2h, fifth before (1)", {"spike_height": 5, "threshold_cur": 100},
     [(1000, 0, 1000, False)]),
    ("100 in 2h, fifth before (2)", {"spike_height": 5, "threshold_cur": 100},
     [(2, 0, 2, False), (1, 0, 3, False), (20, 2, 21, False), (81, 3, 101, True)]),
    ("100 in 2h, fifth before (3)", {"spike_height": 5, "threshold_cur": 100},
     [(10, 0, 10, False), (20, 0, 30, False), (40, 10, 60, False), (80, 30, 120, False),
      (200, 60, 280, False)]),
]


@pytest.mark.parametrize(("settings", "hours"), [e[1:] for e in DOC_EXAMPLES],
                         ids=[e[0] for e in DOC_EXAMPLES])
def test_elastalert_documented_spike_examples(settings: dict[str, float],
                                              hours: list[tuple[int, int, int, bool]]) -> None:
    timeframe = 2   # hours
    counts = [h[0] for h in hours]
    for k, (_, doc_ref, doc_cur, doc_alert) in enumerate(hours, start=1):
        cur = sum(counts[max(0, k - timeframe):k])
        ref = sum(counts[max(0, k - 2 * timeframe):max(0, k - timeframe)])
        assert (ref, cur) == (doc_ref, doc_cur), f"hour {k}: windows differ from the docs"
        fired = spike_fires(cur, ref, spike_type="up", ref_filled=k >= 2 * timeframe,
                            spike_height=settings["spike_height"],
                            threshold_cur=settings.get("threshold_cur"),     # type: ignore[arg-type]
                            threshold_ref=settings.get("threshold_ref"))     # type: ignore[arg-type]
        assert fired is doc_alert, f"hour {k}: ref={ref} cur={cur}"
