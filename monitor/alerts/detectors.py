"""When a rule fires, as pure functions over counts (no store, no clock), so they are easy to table-test.

Semantics follow ElastAlert 2 (users bring their rules and their intuition from there):

* ``frequency`` fires when the window holds at least ``num_events`` (inclusive).
* ``spike`` compares the current window with the reference window just before it. Up means
  ``cur >= ref * spike_height``, down means ``cur <= ref / spike_height`` (both inclusive, as in
  ElastAlert's code). ``threshold_cur`` / ``threshold_ref`` are minimums the windows must reach.
  Until history covers both windows (``ref_filled``) a spike cannot fire.

Kept ElastAlert quirk: with no thresholds a reference of 0 fires on any current count, because
``cur >= 0 * height`` always holds. The documented remedy is ``threshold_cur``/``threshold_ref``.
One deliberate deviation: 0 against 0 never fires (nothing happened; ElastAlert only evaluates
when an event arrives, so it never sees that case).
"""

from __future__ import annotations

from typing import Literal

SpikeType = Literal["up", "down", "both"]
SPIKE_TYPES: tuple[str, ...] = ("up", "down", "both")


def frequency_fires(count: int, num_events: int) -> bool:
    return count >= num_events


def spike_direction(cur: int, ref: int, *, spike_height: float, spike_type: str,
                    threshold_cur: int | None = None, threshold_ref: int | None = None,
                    ref_filled: bool = True) -> Literal["up", "down"] | None:
    """``"up"`` or ``"down"`` when the spike rule fires, else None."""
    if spike_height <= 0:
        raise ValueError("spike_height must be positive")
    if spike_type not in SPIKE_TYPES:
        raise ValueError(f"spike_type must be one of {', '.join(SPIKE_TYPES)}")
    if not ref_filled or (cur == 0 and ref == 0):
        return None
    if threshold_cur is not None and cur < threshold_cur:
        return None
    if threshold_ref is not None and ref < threshold_ref:
        return None
    if spike_type in ("up", "both") and cur >= ref * spike_height:
        return "up"
    if spike_type in ("down", "both") and cur <= ref / spike_height:
        return "down"
    return None


def spike_fires(cur: int, ref: int, *, spike_height: float, spike_type: str,
                threshold_cur: int | None = None, threshold_ref: int | None = None,
                ref_filled: bool = True) -> bool:
    return spike_direction(cur, ref, spike_height=spike_height, spike_type=spike_type,
                           threshold_cur=threshold_cur, threshold_ref=threshold_ref,
                           ref_filled=ref_filled) is not None
