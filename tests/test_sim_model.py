"""The simulation parameters in the model file: what is accepted, and the errors for what is not."""

from __future__ import annotations

import textwrap

import pytest

from factorytwin.errors import ModelError
from factorytwin.model import parse_model

HEAD = """\
factorytwin: 1
enterprise:
  id: acme
  sites:
    - id: lyon
      areas:
        - id: a
          lines:
            - id: l
"""
LINE = "enterprise.sites[lyon].areas[a].lines[l]"
TWO = "- id: a\n  sim: {processing_time: {mean: 1}}\n- id: b\n  sim: {processing_time: {mean: 1}}\n"
LOOP = "- {id: q1, upstream: a, downstream: b, capacity: 0}\n- {id: q2, upstream: b, downstream: a, capacity: 1}\n"


def model_text(stations: str, buffers: str = "", extra: str = "") -> str:
    text = HEAD + "              stations:\n" + textwrap.indent(stations, " " * 14)
    if buffers:
        text += "              buffers:\n" + textwrap.indent(buffers, " " * 14)
    return text + textwrap.indent(extra, " " * 14)


def one(sim: str) -> str:
    return model_text("- id: a\n  sim:\n" + textwrap.indent(sim, "    "))


def errors(text: str) -> list[str]:
    with pytest.raises(ModelError) as info:
        parse_model(text, "p.yaml")
    return [str(i) for i in info.value.issues]


def test_every_new_parameter_is_accepted() -> None:
    sim = (
        "processing_time: {dist: empirical, values: [1, 2, 3]}\n"
        "machines: 2\n"
        "setup: {time: {dist: exponential, mean: 5}, every: 10}\n"
        "failure_mode: time\n"
        "time_to_failure: {dist: lognormal, mean: 50, cv: 0.5}\n"
        "time_to_repair: {mean: 5}\n"
    )
    stations = "- id: a\n  sim:\n" + textwrap.indent(sim, "    ") + "- id: b\n  sim: {processing_time: {mean: 1}}\n"
    buffers = (
        "- {id: q1, upstream: a, downstream: b, capacity: 0}\n- {id: q2, upstream: b, downstream: a, capacity: 2}\n"
    )
    line = parse_model(model_text(stations, buffers, "pallets: 4\n")).enterprise.sites[0].areas[0].lines[0]
    a = line.stations[0].sim
    assert a.processing_time.mean == 2.0  # an empirical distribution's mean is its values' mean
    assert a.machines == 2
    assert a.setup is not None
    assert a.setup.every == 10
    assert a.failure_mode == "time"
    law = a.failure_law()
    assert law is not None
    assert (law[0].dist, law[0].mean, law[1].mean) == ("lognormal", 50.0, 5.0)
    assert line.stations[1].sim.failure_law() is None
    assert [b.capacity for b in line.buffers] == [0, 2]
    assert line.pallets == 4


def test_mtbf_and_mttr_are_exponential_failure_laws() -> None:
    law = parse_model(one("processing_time: {mean: 1}\nmtbf: 50\nmttr: 5\n")).enterprise.sites[0].areas[0]
    ttf, ttr = law.lines[0].stations[0].sim.failure_law()  # type: ignore[misc]
    assert (ttf.dist, ttf.mean, ttr.dist, ttr.mean) == ("exponential", 50.0, "exponential", 5.0)


@pytest.mark.parametrize(
    ("sim", "line", "key", "message"),
    [
        (
            "processing_time: {dist: empirical, values: [1, 2, 3], mean: 5}\n",
            13,
            "sim.processing_time",
            "an empirical distribution's mean is that of its values (2); omit mean",
        ),
        (
            "processing_time: {dist: empirical, values: []}\n",
            13,
            "sim.processing_time",
            "an empirical distribution needs a non-empty list of values",
        ),
        (
            "processing_time: {dist: normal, mean: 1, values: [1]}\n",
            13,
            "sim.processing_time",
            "values are only for dist: empirical, not normal",
        ),
        (
            "processing_time: {dist: empirical, values: [1, -2]}\n",
            13,
            "sim.processing_time.values[1]",
            "Input should be greater than or equal to 0",
        ),
        ("processing_time: {mean: 1}\nmachines: 0\n", 14, "sim.machines", "Input should be greater than or equal to 1"),
        (
            "processing_time: {mean: 1}\nsetup: {time: {mean: 5}, every: 0}\n",
            14,
            "sim.setup.every",
            "Input should be greater than or equal to 1",
        ),
        (
            "processing_time: {mean: 1}\nmtbf: 5\nmttr: 1\ntime_to_failure: {mean: 5}\ntime_to_repair: {mean: 1}\n",
            12,
            "sim",
            "give failures either as mtbf/mttr or as time_to_failure/time_to_repair, not both",
        ),
        (
            "processing_time: {mean: 1}\ntime_to_failure: {mean: 5}\n",
            12,
            "sim",
            "time_to_failure and time_to_repair must be given together",
        ),
    ],
)
def test_station_sim_errors_name_file_line_and_key(sim: str, line: int, key: str, message: str) -> None:
    assert errors(one(sim)) == [f"p.yaml:{line}: {LINE}.stations[a].{key}: {message}"]


def test_a_loop_that_would_jam_is_refused() -> None:
    assert errors(model_text(TWO, LOOP, "pallets: 3\n")) == [
        f"p.yaml:18: {LINE}.pallets: 3 pallets fill all 3 places of the loop (a, b): "
        "with blocking after service it jams; use at most 2"
    ]


def test_a_buffer_back_to_the_first_station_needs_pallets() -> None:
    assert errors(model_text(TWO, LOOP)) == [
        f"p.yaml:17: {LINE}.buffers[q2].downstream: a buffer joins consecutive stations; "
        "'a' does not follow 'b' (a closed loop needs the line's pallets)"
    ]


def test_a_loop_takes_no_arrivals() -> None:
    text = model_text(
        "- id: a\n  sim: {processing_time: {mean: 1}}\n", "", "pallets: 1\narrivals: {interval: {mean: 3}}\n"
    )
    assert errors(text) == [
        f"p.yaml:14: {LINE}.arrivals: a closed loop (pallets) takes no arrivals: its pallets circulate"
    ]


def test_negative_capacity_is_refused_and_zero_accepted() -> None:
    buffers = "- {id: q1, upstream: a, downstream: b, capacity: -1}\n"
    assert errors(model_text(TWO, buffers)) == [
        f"p.yaml:16: {LINE}.buffers[q1].capacity: Input should be greater than or equal to 0"
    ]
    parse_model(model_text(TWO, buffers.replace("-1", "0")))
