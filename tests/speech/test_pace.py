"""The rate tables and their interpolation (pure: no engine runs here)."""

from __future__ import annotations

import pytest

from voicecoach.speech import pace


def test_interpolate_hits_the_points_and_goes_straight_between():
    points = ((100.0, 10.0, 0.0), (200.0, 20.0, 4.0))
    assert pace.interpolate(points, 100) == (10.0, 0.0)
    assert pace.interpolate(points, 200) == (20.0, 4.0)
    assert pace.interpolate(points, 150) == pytest.approx((15.0, 2.0))
    assert pace.interpolate(points, 175) == pytest.approx((17.5, 3.0))


def test_interpolate_holds_the_ends():
    points = ((100.0, 10.0), (200.0, 20.0))
    assert pace.interpolate(points, 20) == (10.0,)
    assert pace.interpolate(points, 900) == (20.0,)
    with pytest.raises(ValueError):
        pace.interpolate((), 100)


@pytest.mark.parametrize("table", [pace.ESPEAK_POINTS, pace.PIPER_POINTS])
def test_tables_are_sorted_and_cover_the_rates_a_script_may_ask(table):
    heard = [row[0] for row in table]
    assert heard == sorted(heard) and len(set(heard)) == len(heard)
    assert heard[0] <= 120 and heard[-1] >= 160  # at least the range the tests measure


def test_espeak_settings_are_slower_than_espeaks_own_number():
    # eSpeak's "wpm" runs fast: 140 as heard is about 104 of eSpeak's own.
    rate, gap = pace.espeak_settings(140)
    assert 95 <= rate <= 115 and gap == 0
    # Below eSpeak's slowest rate (80, heard 110) the gap between words does the rest.
    rate, gap = pace.espeak_settings(80)
    assert rate == 80 and gap > 0
    settings = [pace.espeak_settings(r) for r in range(80, 451, 5)]
    rates = [r for r, _ in settings]
    gaps = [g for _, g in settings]
    assert rates == sorted(rates) and gaps == sorted(gaps, reverse=True)


def test_piper_length_scale_falls_as_the_rate_rises():
    scales = [pace.piper_length_scale(r) for r in range(80, 451, 5)]
    assert all(a >= b for a, b in zip(scales, scales[1:], strict=False))
    assert 1.8 < pace.piper_length_scale(140) < 2.2


def test_each_table_has_its_own_digest_in_the_identities(monkeypatch):
    # Cached speech made at the old pace must not be reused.
    from voicecoach.speech import piper, system

    assert pace.ESPEAK_PACE in system.SystemEngine().identity()
    assert pace.ESPEAK_PACE != pace.PIPER_PACE
    assert pace.ESPEAK_PACE.startswith("pace-") and len(pace.ESPEAK_PACE) == 15
    if not piper.is_installed():
        return
    first = piper.PiperEngine().identity()
    piper._voice_identity.cache_clear()
    monkeypatch.setattr(piper, "PIPER_PACE", "pace-other")
    try:
        assert piper.PiperEngine().identity() != first
    finally:
        piper._voice_identity.cache_clear()
