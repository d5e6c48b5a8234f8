"""Shift calendars: shifts across midnight, working days, breaks, one-off planned stops, time zones."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from factorytwin.model import PlantIndex, parse_model
from factorytwin.model.calendar import Break, Calendar, PlannedStop, Shift

PARIS = ZoneInfo("Europe/Paris")


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


THREE_SHIFTS = Calendar(
    shifts=[
        Shift(name="early", start="06:00", end="14:00"),
        Shift(name="late", start="14:00", end="22:00"),
        Shift(name="night", start="22:00", end="06:00"),
    ],
    days=["mon", "tue", "wed", "thu", "fri"],
    breaks=[
        Break(name="meal", start="11:30", end="12:00", shifts=["early"]),
        Break(name="night meal", start="02:00", end="02:30", shifts=["night"]),
    ],
)


def test_shifts_of_a_working_day_including_the_night_across_midnight() -> None:
    periods = THREE_SHIFTS.periods(t("2026-11-24T00:00"), t("2026-11-25T00:00"), "Europe/Paris")  # a Tuesday
    assert [(p.name, p.start, p.end) for p in periods] == [
        ("night", t("2026-11-24T00:00"), t("2026-11-24T06:00")),  # Monday's night shift, clipped
        ("early", t("2026-11-24T06:00"), t("2026-11-24T14:00")),
        ("late", t("2026-11-24T14:00"), t("2026-11-24T22:00")),
        ("night", t("2026-11-24T22:00"), t("2026-11-25T00:00")),
    ]
    assert periods[0].planned_seconds == 6 * 3600 - 1800  # the night meal at 02:00
    assert periods[1].planned_seconds == 8 * 3600 - 1800
    assert periods[2].planned_seconds == 8 * 3600


def test_weekends_are_not_planned_and_friday_night_runs_into_saturday() -> None:
    saturday = THREE_SHIFTS.periods(t("2026-11-28T00:00"), t("2026-11-29T00:00"), "Europe/Paris")
    assert [(p.name, p.start, p.end) for p in saturday] == [("night", t("2026-11-28T00:00"), t("2026-11-28T06:00"))]
    assert THREE_SHIFTS.planned_seconds(t("2026-11-29T00:00"), t("2026-11-30T00:00"), "Europe/Paris") == 0


def test_planned_stops_are_subtracted_once_and_only_for_their_lines() -> None:
    cal = THREE_SHIFTS.model_copy(
        update={
            "planned": [
                PlannedStop(
                    start=datetime(2026, 11, 24, 11, 0),
                    end=datetime(2026, 11, 24, 13, 0),
                    reason="maintenance",
                    lines=["line1"],
                ),
            ]
        }
    )
    start, end = t("2026-11-24T06:00"), t("2026-11-24T14:00")
    (early,) = cal.periods(start, end, "Europe/Paris", line="line1")
    assert early.planned_seconds == 6 * 3600  # 11:00-13:00 covers the 11:30 meal: two hours, not two and a half
    assert [s.label for s in early.stops] == ["maintenance"]
    assert cal.planned_seconds(start, end, "Europe/Paris", line="line2") == 8 * 3600 - 1800


def test_shift_at_names_the_running_shift() -> None:
    period = THREE_SHIFTS.shift_at(t("2026-11-25T03:00"), "Europe/Paris")
    assert period is not None
    assert (period.name, period.start, period.end) == ("night", t("2026-11-24T22:00"), t("2026-11-25T06:00"))
    assert THREE_SHIFTS.shift_at(t("2026-11-29T12:00"), "Europe/Paris") is None


def test_daylight_saving_change_gives_a_shorter_night() -> None:
    cal = Calendar(shifts=[Shift(name="night", start="22:00", end="06:00")])
    (night,) = [p for p in cal.periods(t("2026-03-28T12:00"), t("2026-03-29T12:00"), "Europe/Paris")]
    assert night.end - night.start == 7 * 3600  # clocks go forward at 02:00


def test_default_calendar_plans_every_hour_and_lines_inherit_the_site_calendar() -> None:
    assert Calendar().planned_seconds(0, 86400 * 3) == 86400 * 3
    from .test_model import plant_text, replace_once

    text = replace_once(
        plant_text(),
        "    - id: lyon\n",
        "    - id: lyon\n      calendar: {shifts: [{name: a, start: '06:00', end: '14:00'}]}\n",
    )
    line = next(iter(PlantIndex(parse_model(text)).lines.values()))
    assert line.planned_seconds(0, 86400) == 8 * 3600


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{shifts: [{name: a, start: '25:00', end: '06:00'}]}", "is not a time of day"),
        ("{shifts: [{name: a, start: '06:00', end: '14:00'}, {name: a, start: '14:00', end: '22:00'}]}", "unique"),
        ("{breaks: [{name: x, start: '10:00', end: '10:15', shifts: [b]}]}", "unknown shifts ['b']"),
        ("{days: [monday]}", "Input should be"),
    ],
)
def test_calendar_errors_are_reported_with_their_place(block: str, message: str) -> None:
    from factorytwin.errors import ModelError

    from .test_model import plant_text, replace_once

    text = replace_once(plant_text(), "    - id: lyon\n", f"    - id: lyon\n      calendar: {block}\n")
    with pytest.raises(ModelError) as info:
        parse_model(text, "plant.yaml")
    assert any(message in str(i) and "sites[lyon].calendar" in str(i) for i in info.value.issues), info.value.issues
