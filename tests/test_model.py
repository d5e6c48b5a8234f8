"""The plant model file: loading, the resolved index, every kind of error report, the JSON Schema."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factorytwin.errors import FactoryTwinError, ModelError
from factorytwin.events import StationState
from factorytwin.model import PlantIndex, PlantModel, Role, json_schema, load_model, parse_model

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bottling.yaml"
LINE = "enterprise.sites[lyon].areas[bottling].lines[line1]"
UNKNOWN_KEY = "unknown key (check the spelling; see `factorytwin schema`)"


# --------------------------------------------------------------------------- helpers

HEAD = """\
factorytwin: 1
enterprise:
  id: acme
  sites:
    - id: lyon
      areas:
        - id: bottling
          lines:
            - id: line1
"""

STATIONS = """\
- id: filler
  sim:
    processing_time: {dist: normal, mean: 1.25, cv: 0.08}
    mtbf: 1800
    mttr: 150
  signals:
    - id: state
      role: state
      binding: {opcua: {node: "ns=2;s=Filler.State"}}
    - id: temperature
      role: temperature
      unit: degC
      normal: {low: 3, high: 7}
      binding: {opcua: {node: "ns=2;s=Filler.Temperature"}}
- id: capper
  sim:
    processing_time: {mean: 1.0}
  signals:
    - id: state
      role: state
      binding: {opcua: {node: "ns=2;s=Capper.State"}}
"""

BUFFERS = """\
- id: b1
  upstream: filler
  downstream: capper
  capacity: 25
"""

SOURCES = """\
sources:
  plc:
    kind: opcua
    endpoint: opc.tcp://localhost:4840
"""


def plant_text(
    *, stations: str = STATIONS, buffers: str = BUFFERS, line: str = "source: plc", tail: str = SOURCES
) -> str:
    """A small valid model (two stations, one buffer, one source); pieces can be swapped out.

    ``line`` holds extra keys of line1 (its default source by default); ``stations`` and ``buffers``
    are the items of the line's lists, written at column 0; ``tail`` follows the enterprise.
    """
    keys = " " * 14
    text = HEAD
    if line:
        text += textwrap.indent(line.rstrip("\n") + "\n", keys)
    text += f"{keys}stations:\n" + textwrap.indent(stations, keys + "  ")
    if buffers:
        text += f"{keys}buffers:\n" + textwrap.indent(buffers, keys + "  ")
    return text + tail


def replace_once(text: str, old: str, new: str) -> str:
    """Replace a snippet that must occur exactly once (so a test never edits nothing)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def edit_stations(old: str, new: str) -> str:
    """The small model with one edit in its stations (written at column 0, see STATIONS)."""
    return plant_text(stations=replace_once(STATIONS, old, new))


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the only line containing needle."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def at(line: int, key: str, message: str) -> str:
    """An issue as printed for plant.yaml, with key relative to line1 of the small model and the example."""
    return f"plant.yaml:{line}: {LINE}.{key}: {message}"


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """Write text to plant.yaml in a temporary directory, load it (it must fail), return its issues."""
    monkeypatch.chdir(tmp_path)

    def _load(text: str) -> list[str]:
        Path("plant.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(ModelError) as info:
            load_model("plant.yaml")
        return [str(issue) for issue in info.value.issues]

    return _load


@pytest.fixture(scope="module")
def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def index() -> PlantIndex:
    return PlantIndex(load_model(EXAMPLE))


# --------------------------------------------------------------------------- the example


def test_example_loads(index: PlantIndex) -> None:
    model = index.model
    assert isinstance(model, PlantModel)
    assert model.factorytwin == 1
    assert model.enterprise.id == "acme"
    assert model.enterprise.sites[0].timezone == "Europe/Paris"
    assert list(model.sources) == ["plant"]
    assert model.sources["plant"].endpoint == "opc.tcp://127.0.0.1:48400/factorytwin"
    assert model.sources["plant"].reconnect_max_s == 30.0  # a default
    assert model.virtual_plant.seed == 42
    assert model.virtual_plant.serves == ["plant"]
    assert model.virtual_plant.tick_s == 0.1  # a default


def test_example_index_has_48_signals_and_5_stations_in_flow_order(index: PlantIndex) -> None:
    assert len(index.signals) == 48
    assert list(index.lines) == ["acme/lyon/bottling/line1"]
    assert [s.asset.id for s in index.stations] == ["rinser", "filler", "capper", "labeler", "packer"]
    assert all(s.kind == "station" for s in index.stations)
    line = index.lines["acme/lyon/bottling/line1"]
    assert [b.asset.id for b in line.buffers] == ["b1", "b2", "b3", "b4"]
    assert all(b.kind == "buffer" for b in line.buffers)
    assert len(index.assets) == 9
    per_asset = {a.asset.id: len(a.signals) for a in index.assets.values()}
    assert per_asset == {
        "rinser": 9,
        "filler": 10,
        "capper": 8,
        "labeler": 9,
        "packer": 8,
        "b1": 1,
        "b2": 1,
        "b3": 1,
        "b4": 1,
    }


def test_example_signal_paths(index: PlantIndex) -> None:
    temp = index.signals["acme/lyon/bottling/line1/filler/product_temp"]
    assert temp.asset_path == "acme/lyon/bottling/line1/filler"
    assert temp.line_path == "acme/lyon/bottling/line1"
    assert temp.signal.unit == "degC"
    assert temp.role is Role.TEMPERATURE
    assert "acme/lyon/bottling/line1/b3/level" in index.signals
    for path, info in index.signals.items():
        assert path == f"{info.asset_path}/{info.signal.id}"
        assert path.count("/") == 5
        assert index.asset_of(path).path == info.asset_path


def test_example_sources_resolve_from_the_line_default(index: PlantIndex) -> None:
    assert {info.source for info in index.signals.values()} == {"plant"}
    assert len(index.bound_to("plant")) == 48
    assert index.bound_to("elsewhere") == []
    filler_temp = index.signals["acme/lyon/bottling/line1/filler/product_temp"]
    assert filler_temp.node == "ns=2;s=Line1.Filler.ProductTemp"
    assert index.signals["acme/lyon/bottling/line1/packer/state"].node == "ns=2;s=Line1.Casepacker.State"


def test_example_roles(index: PlantIndex) -> None:
    filler = index.assets["acme/lyon/bottling/line1/filler"]
    state = filler.by_role(Role.STATE)
    assert state is not None
    assert state.path == "acme/lyon/bottling/line1/filler/state"
    assert state.integer
    assert state.state_of(1) is StationState.RUNNING
    assert state.state_of(4) is StationState.DOWN
    assert state.state_of(99) is StationState.UNKNOWN
    assert filler.by_role(Role.FLOW) is None
    fill_volume = index.signals["acme/lyon/bottling/line1/filler/fill_volume"]
    assert fill_volume.role is Role.QUALITY
    assert not fill_volume.integer
    assert fill_volume.signal.spec is not None
    assert fill_volume.signal.spec.target == 500
    assert index.signals["acme/lyon/bottling/line1/b1/level"].integer
    glue = index.signals["acme/lyon/bottling/line1/labeler/glue_temp"]
    assert glue.signal.sim.follows == "glue_temp_sp"
    speed = index.signals["acme/lyon/bottling/line1/capper/speed"].signal
    assert speed.write is not None
    assert (speed.write.min, speed.write.max, speed.write.max_step) == (20, 120, 25)


# --------------------------------------------------------------------------- the small model


def test_small_model_is_valid() -> None:
    idx = PlantIndex(parse_model(plant_text()))
    assert list(idx.signals) == [
        "acme/lyon/bottling/line1/filler/state",
        "acme/lyon/bottling/line1/filler/temperature",
        "acme/lyon/bottling/line1/capper/state",
    ]
    assert {s.source for s in idx.signals.values()} == {"plc"}
    capper = idx.lines["acme/lyon/bottling/line1"].stations[1].asset
    assert capper.sim.processing_time.dist == "deterministic"  # the default distribution
    assert capper.sim.mtbf is None
    assert capper.sim.scrap_rate == 0.0


def test_binding_source_overrides_the_line_default() -> None:
    text = plant_text(tail=SOURCES + "  plc2:\n    kind: opcua\n    endpoint: opc.tcp://plc2:4840\n")
    text = replace_once(
        text, '{opcua: {node: "ns=2;s=Capper.State"}}', '{source: plc2, opcua: {node: "ns=2;s=Capper.State"}}'
    )
    idx = PlantIndex(parse_model(text))
    assert idx.signals["acme/lyon/bottling/line1/capper/state"].source == "plc2"
    assert idx.signals["acme/lyon/bottling/line1/filler/state"].source == "plc"
    assert [s.path for s in idx.bound_to("plc2")] == ["acme/lyon/bottling/line1/capper/state"]


def test_same_node_id_on_two_sources_is_allowed() -> None:
    text = plant_text(tail=SOURCES + "  plc2:\n    kind: opcua\n    endpoint: opc.tcp://plc2:4840\n")
    text = replace_once(
        text, '{opcua: {node: "ns=2;s=Capper.State"}}', '{source: plc2, opcua: {node: "ns=2;s=Filler.State"}}'
    )
    idx = PlantIndex(parse_model(text))
    assert idx.signals["acme/lyon/bottling/line1/capper/state"].node == "ns=2;s=Filler.State"


def test_unbound_signals_need_no_source() -> None:
    stations = STATIONS.replace('      binding: {opcua: {node: "ns=2;s=Filler.State"}}\n', "")
    stations = stations.replace('      binding: {opcua: {node: "ns=2;s=Filler.Temperature"}}\n', "")
    stations = stations.replace('      binding: {opcua: {node: "ns=2;s=Capper.State"}}\n', "")
    idx = PlantIndex(parse_model(plant_text(stations=stations, line="", tail="")))
    info = idx.signals["acme/lyon/bottling/line1/filler/temperature"]
    assert (info.source, info.node) == (None, None)
    assert idx.model.sources == {}


def test_custom_state_codes() -> None:
    text = edit_stations(
        '      role: state\n      binding: {opcua: {node: "ns=2;s=Capper.State"}}',
        "      role: state\n      states: {10: running, 20: down}\n"
        '      binding: {opcua: {node: "ns=2;s=Capper.State"}}',
    )
    state = PlantIndex(parse_model(text)).signals["acme/lyon/bottling/line1/capper/state"]
    assert state.state_of(10) is StationState.RUNNING
    assert state.state_of(20) is StationState.DOWN
    assert state.state_of(1) is StationState.UNKNOWN  # the default codes no longer apply


# --------------------------------------------------------------------------- reading the file


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ModelError) as info:
        load_model(path)
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.key) == (str(path), None, "")
    assert str(issue) == f"{path}: cannot read the file: [Errno 2] No such file or directory: '{path}'"


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        load_model(tmp_path)
    assert [str(i) for i in info.value.issues] == [
        f"{tmp_path}: cannot read the file: [Errno 21] Is a directory: '{tmp_path}'"
    ]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("factorytwin: 1\nenterprise: {id: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert [str(i) for i in info.value.issues] == [
        f"{path}: cannot read the file: 'utf-8' codec can't decode byte 0xe9 in position 35: invalid continuation byte"
    ]


def test_errors_name_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "line.yaml"
    text = replace_once(plant_text(), "capacity: 25", "capacity: -1")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}:{line_of(text, 'capacity')}: {LINE}.buffers[b1].capacity: Input should be greater than or equal to 0"
    )


def test_model_error_is_a_factorytwin_error_listing_every_issue() -> None:
    with pytest.raises(FactoryTwinError) as info:
        parse_model(plant_text().replace("capacity: 25", "capacity: -1").replace("mttr: 150", "mttr: 0"), "p.yaml")
    assert isinstance(info.value, ModelError)
    assert str(info.value) == "\n".join(str(i) for i in info.value.issues)
    assert len(info.value.issues) == 2


def test_parse_model_default_name() -> None:
    with pytest.raises(ModelError) as info:
        parse_model("- 1\n")
    assert str(info.value) == "<model>:1: the file must hold a mapping (key: value) at the top"


# --------------------------------------------------------------------------- YAML level


def test_yaml_syntax_error_reports_its_line(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("mtbf: 1800", "mtbf: 1800: 30")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'mtbf: 1800: 30')}: YAML syntax: mapping values are not allowed here"
    ]


def test_yaml_syntax_error_in_the_example(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, "    timezone: Europe/Paris\n", "\ttimezone: Europe/Paris\n")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'timezone')}: YAML syntax: found character '\\t' that cannot start any token"
    ]


def test_yaml_duplicate_key(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("    mttr: 150\n", "    mttr: 150\n    mttr: 90\n")
    assert load(text) == [
        f'plant.yaml:{line_of(text, "mttr: 90")}: YAML syntax: found duplicate key "mttr" with value "90" '
        '(original value: "150")'
    ]


@pytest.mark.parametrize(
    "text", ["- factorytwin: 1\n- enterprise: {}\n", "just a sentence\n", "", "# only a comment\n"]
)
def test_top_level_must_be_a_mapping(load: Callable[[str], list[str]], text: str) -> None:
    assert load(text) == ["plant.yaml:1: the file must hold a mapping (key: value) at the top"]


# --------------------------------------------------------------------------- schema level


def test_missing_top_level_keys_have_no_line(load: Callable[[str], list[str]]) -> None:
    assert load("factorytwin: 1\n") == ["plant.yaml: enterprise: required key is missing"]
    assert load("sources: {}\n") == [
        "plant.yaml: factorytwin: required key is missing",
        "plant.yaml: enterprise: required key is missing",
    ]


def test_wrong_file_version(load: Callable[[str], list[str]]) -> None:
    assert load(plant_text().replace("factorytwin: 1", "factorytwin: 2")) == [
        "plant.yaml:1: factorytwin: Input should be 1"
    ]


def test_station_without_sim(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("  sim:\n    processing_time: {mean: 1.0}\n", "")
    assert load(text) == [
        f"plant.yaml:{line_of(text, '- id: capper')}: {LINE}.stations[capper].sim: required key is missing"
    ]


def test_station_without_sim_in_the_example(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(
        example_text,
        "                  kind: capper\n"
        "                  sim:\n"
        "                    processing_time: {dist: normal, mean: 1.0, cv: 0.05}\n"
        "                    mtbf: 3600\n"
        "                    mttr: 90\n"
        "                    scrap_rate: 0.004\n",
        "                  kind: capper\n",
    )
    assert load(text) == [f"plant.yaml:158: {LINE}.stations[capper].sim: required key is missing"]


def test_item_without_id_is_named_by_its_position(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("- id: capper\n  sim:", "- sim:")
    assert load(text) == [f"plant.yaml:{line_of(text, '- sim:')}: {LINE}.stations[1].id: required key is missing"]


def test_misspelled_key_is_unknown(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, "target_rate: 2600", "target_rat: 2600")
    assert load(text) == [f"plant.yaml:19: {LINE}.target_rat: {UNKNOWN_KEY}"]


def test_misspelled_required_key_reports_both_sides(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), "capacity: 25", "capacty: 25")
    assert load(text) == [
        f"plant.yaml:{line_of(text, '- id: b1')}: {LINE}.buffers[b1].capacity: required key is missing",
        f"plant.yaml:{line_of(text, 'capacty')}: {LINE}.buffers[b1].capacty: {UNKNOWN_KEY}",
    ]


def test_string_for_capacity(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, "capacity: 40", "capacity: forty")
    assert load(text) == [
        f"plant.yaml:342: {LINE}.buffers[b1].capacity: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


def test_bad_identifier(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), "- id: capper", "- id: 2nd-capper")
    assert load(text) == [
        f"plant.yaml:{line_of(text, '2nd-capper')}: {LINE}.stations[2nd-capper].id: "
        "String should match pattern '^[A-Za-z][A-Za-z0-9_-]*$'"
    ]


def test_negative_mttr_and_scrap_rate_above_one_reported_together(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("    mttr: 150\n", "    mttr: -150\n    scrap_rate: 1.5\n")
    assert load(text) == [
        at(line_of(text, "mttr"), "stations[filler].sim.mttr", "Input should be greater than 0"),
        at(line_of(text, "scrap_rate"), "stations[filler].sim.scrap_rate", "Input should be less than 1"),
    ]


def test_several_problems_in_the_example_reported_at_once(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(
        example_text, "mttr: 90\n                    scrap_rate: 0.004", "mttr: -5\n                    scrap_rate: 1.5"
    )
    text = replace_once(text, "capacity: 40", "capacity: forty")
    text = replace_once(text, "target_rate: 2600", "target_rat: 2600")
    # issues come in schema order (a mapping's unknown keys after its declared ones), not sorted by line
    assert load(text) == [
        f"plant.yaml:164: {LINE}.stations[capper].sim.mttr: Input should be greater than 0",
        f"plant.yaml:165: {LINE}.stations[capper].sim.scrap_rate: Input should be less than 1",
        at(342, "buffers[b1].capacity", "Input should be a valid integer, unable to parse string as an integer"),
        at(19, "target_rat", UNKNOWN_KEY),
    ]


def test_mtbf_without_mttr(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("    mttr: 150\n", "")
    sim_line = line_of(text, "- id: filler") + 1  # the filler's `sim:` key
    assert load(text) == [at(sim_line, "stations[filler].sim", "mtbf and mttr must be given together")]


def test_unknown_failure_mode_is_refused(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("    mttr: 150\n", "    mttr: 150\n    failure_mode: calendar\n")
    assert load(text) == [
        at(line_of(text, "failure_mode"), "stations[filler].sim.failure_mode", "Input should be 'operation' or 'time'")
    ]


@pytest.mark.parametrize(("low", "high"), [("7", "3"), ("5", "5")])
def test_normal_range_low_must_be_below_high(load: Callable[[str], list[str]], low: str, high: str) -> None:
    text = replace_once(plant_text(), "normal: {low: 3, high: 7}", f"normal: {{low: {low}, high: {high}}}")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'normal:')}: {LINE}.stations[filler].signals[temperature].normal: "
        f"low ({float(low)}) must be below high ({float(high)})"
    ]


def test_spec_and_write_limits_are_ordered(load: Callable[[str], list[str]]) -> None:
    text = edit_stations(
        "      normal: {low: 3, high: 7}\n",
        "      normal: {low: 3, high: 7}\n      spec: {lsl: 8, usl: 2}\n      write: {min: 10, max: 0}\n",
    )
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'spec:')}: {LINE}.stations[filler].signals[temperature].spec: "
        "lsl (8.0) must be below usl (2.0)",
        f"plant.yaml:{line_of(text, 'write:')}: {LINE}.stations[filler].signals[temperature].write: "
        "min (10.0) must be below max (0.0)",
    ]


def test_unknown_role_and_distribution(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), "role: temperature", "role: temprature")
    text = replace_once(text, "dist: normal", "dist: weibull")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'weibull')}: {LINE}.stations[filler].sim.processing_time.dist: "
        "Input should be 'deterministic', 'exponential', 'normal', 'lognormal' or 'empirical'",
        f"plant.yaml:{line_of(text, 'temprature')}: {LINE}.stations[filler].signals[temperature].role: "
        "Input should be 'state', 'good_count', 'scrap_count', 'cycle_time', 'speed', 'temperature', 'pressure', "
        "'vibration', 'motor_current', 'flow', 'level', 'setpoint', 'quality' or 'other'",
    ]


def test_bad_node_id_and_endpoint(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), '"ns=2;s=Capper.State"', '"Capper.State"')
    text = replace_once(text, "opc.tcp://localhost:4840", "http://localhost:4840")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'Capper.State')}: {LINE}.stations[capper].signals[state].binding.opcua.node: "
        "String should match pattern '^ns=\\d+;[sigb]=.+$'",
        f"plant.yaml:{line_of(text, 'endpoint')}: sources.plc.endpoint: "
        "String should match pattern '^opc\\.tcp://[^/\\s:]+(:\\d+)?(/.*)?$'",
    ]


def test_unknown_source_kind(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), "kind: opcua", "kind: profinet")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'profinet')}: sources.plc.kind: unknown kind 'profinet'; "
        "expected one of 'opcua', 'modbus', 'mqtt', 'sparkplug'"
    ]


# --------------------------------------------------------------------------- cross-reference checks


def test_duplicate_station_id(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), "- id: capper", "- id: filler  # was capper")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'was capper')}: {LINE}.stations[filler].id: duplicate id 'filler'",
        f"plant.yaml:{line_of(text, 'downstream')}: {LINE}.buffers[b1].downstream: unknown station 'capper'",
    ]


def test_duplicate_signal_id(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), "- id: temperature", "- id: state  # was temperature")
    assert load(text) == [
        at(line_of(text, "was temperature"), "stations[filler].signals[state].id", "duplicate id 'state'")
    ]


def test_buffer_with_a_station_id(load: Callable[[str], list[str]]) -> None:
    text = replace_once(plant_text(), "- id: b1", "- id: capper  # a buffer")
    assert load(text) == [
        at(line_of(text, "a buffer"), "buffers[capper].id", "id 'capper' is already a station of this line")
    ]


def test_buffer_pointing_to_an_unknown_station(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, "upstream: rinser", "upstream: washer")
    assert load(text) == [f"plant.yaml:340: {LINE}.buffers[b1].upstream: unknown station 'washer'"]


def test_buffer_joining_non_consecutive_stations(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(
        example_text,
        "upstream: filler\n                  downstream: capper",
        "upstream: filler\n                  downstream: labeler",
    )
    assert load(text) == [
        f"plant.yaml:352: {LINE}.buffers[b2].downstream: "
        "a buffer joins consecutive stations; 'labeler' does not follow 'filler'"
    ]


def test_buffer_against_the_flow(load: Callable[[str], list[str]]) -> None:
    text = plant_text(buffers="- id: b1\n  upstream: capper\n  downstream: filler\n  capacity: 25\n")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'downstream')}: {LINE}.buffers[b1].downstream: "
        "a buffer joins consecutive stations; 'filler' does not follow 'capper'"
        " (a closed loop needs the line's pallets)"
    ]


def test_binding_to_an_unknown_source(load: Callable[[str], list[str]]) -> None:
    text = replace_once(
        plant_text(), '{opcua: {node: "ns=2;s=Capper.State"}}', '{source: plc9, opcua: {node: "ns=2;s=Capper.State"}}'
    )
    assert load(text) == [
        at(line_of(text, "plc9"), "stations[capper].signals[state].binding.source", "unknown source 'plc9'")
    ]


def test_line_default_source_unknown(load: Callable[[str], list[str]]) -> None:
    text = plant_text(line="source: plc9")
    issues = load(text)
    assert issues[0] == f"plant.yaml:10: {LINE}.source: unknown source 'plc9'"
    # each binding that falls back to the line's source is reported as well, on its own line
    assert issues[1:] == [
        at(line_of(text, node), f"stations[{station}].signals[{sig}].binding.source", "unknown source 'plc9'")
        for station, sig, node in [
            ("filler", "state", "Filler.State"),
            ("filler", "temperature", "Filler.Temperature"),
            ("capper", "state", "Capper.State"),
        ]
    ]


def test_binding_without_any_source(load: Callable[[str], list[str]]) -> None:
    text = plant_text(line="", tail="")
    message = "binding.source: no source named here and the line names no default source"
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'Filler.State')}: {LINE}.stations[filler].signals[state].{message}",
        f"plant.yaml:{line_of(text, 'Filler.Temperature')}: {LINE}.stations[filler].signals[temperature].{message}",
        f"plant.yaml:{line_of(text, 'Capper.State')}: {LINE}.stations[capper].signals[state].{message}",
    ]


def test_duplicate_opcua_node(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, '"ns=2;s=Line1.Capper.Speed"', '"ns=2;s=Line1.Capper.State"')
    assert load(text) == [
        f"plant.yaml:193: {LINE}.stations[capper].signals[speed].binding.opcua.node: "
        "node 'ns=2;s=Line1.Capper.State' is already bound to another signal"
    ]


def test_duplicate_node_across_lines_of_one_source(load: Callable[[str], list[str]]) -> None:
    text = plant_text()
    line2 = textwrap.indent(
        "- id: line2\n  source: plc\n  stations:\n    - id: filler\n      sim: {processing_time: {mean: 1}}\n"
        '      signals:\n        - {id: state, role: state, binding: {opcua: {node: "ns=2;s=Filler.State"}}}\n',
        " " * 12,
    )
    text = replace_once(text, "sources:\n", line2 + "sources:\n")
    assert load(text) == [
        f"plant.yaml:{line_of(text, '{id: state')}: enterprise.sites[lyon].areas[bottling].lines[line2]"
        ".stations[filler].signals[state].binding.opcua.node: "
        "node 'ns=2;s=Filler.State' is already bound to another signal"
    ]


def test_two_state_signals_on_one_station(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(
        example_text,
        "role: good_count\n                      unit: bottles\n"
        '                      binding: {opcua: {node: "ns=2;s=Line1.Capper.GoodCount"}}',
        "role: state\n                      unit: bottles\n"
        '                      binding: {opcua: {node: "ns=2;s=Line1.Capper.GoodCount"}}',
    )
    assert load(text) == [
        f"plant.yaml:173: {LINE}.stations[capper].signals[good_count].role: only one signal may have role 'state' here"
    ]


def test_two_level_signals_on_one_buffer(load: Callable[[str], list[str]]) -> None:
    buffers = BUFFERS + "  signals:\n    - {id: level, role: level}\n    - {id: level2, role: level}\n"
    text = plant_text(buffers=buffers)
    assert load(text) == [
        at(line_of(text, "level2"), "buffers[b1].signals[level2].role", "only one signal may have role 'level' here")
    ]


def test_many_signals_of_a_repeatable_role_are_fine() -> None:
    stations = STATIONS.replace(
        "    - id: temperature\n",
        "    - {id: t2, role: temperature}\n    - {id: t3, role: temperature}\n    - id: temperature\n",
    )
    assert len(PlantIndex(parse_model(plant_text(stations=stations))).signals) == 5


def test_state_mapping_needs_role_state(load: Callable[[str], list[str]]) -> None:
    text = edit_stations("      unit: degC\n", "      unit: degC\n      states: {0: idle}\n")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'states:')}: {LINE}.stations[filler].signals[temperature].states: "
        "a state mapping needs role 'state'"
    ]


def test_follows_names_a_missing_signal(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, "follows: glue_temp_sp", "follows: glue_sp")
    assert load(text) == [
        f"plant.yaml:278: {LINE}.stations[labeler].signals[glue_temp].sim.follows: no signal 'glue_sp' on 'labeler'"
    ]


def test_follows_only_looks_on_the_same_station(load: Callable[[str], list[str]]) -> None:
    # 'state' exists on the capper, not on the filler; the filler's temperature cannot follow it there
    text = edit_stations("      unit: degC\n", "      unit: degC\n      sim: {follows: setpoint}\n")
    assert load(text) == [
        f"plant.yaml:{line_of(text, 'follows')}: {LINE}.stations[filler].signals[temperature].sim.follows: "
        "no signal 'setpoint' on 'filler'"
    ]


def test_virtual_plant_serves_an_unknown_source(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, "serves: [plant]", "serves: [plant, mqtt1]")
    assert load(text) == ["plant.yaml:391: virtual_plant.serves[1]: unknown source 'mqtt1'"]


def test_several_cross_reference_problems_reported_at_once(load: Callable[[str], list[str]], example_text: str) -> None:
    text = replace_once(example_text, "upstream: rinser", "upstream: washer")
    text = replace_once(text, '"ns=2;s=Line1.Capper.Speed"', '"ns=2;s=Line1.Capper.State"')
    text = replace_once(text, "follows: glue_temp_sp", "follows: glue_sp")
    text = replace_once(text, "serves: [plant]", "serves: [plc]")
    assert load(text) == [
        f"plant.yaml:340: {LINE}.buffers[b1].upstream: unknown station 'washer'",
        f"plant.yaml:193: {LINE}.stations[capper].signals[speed].binding.opcua.node: "
        "node 'ns=2;s=Line1.Capper.State' is already bound to another signal",
        f"plant.yaml:278: {LINE}.stations[labeler].signals[glue_temp].sim.follows: no signal 'glue_sp' on 'labeler'",
        "plant.yaml:391: virtual_plant.serves[0]: unknown source 'plc'",
    ]


def test_two_buffers_between_the_same_stations() -> None:
    buffers = BUFFERS + "- {id: b2, upstream: filler, downstream: capper, capacity: 3}\n"
    with pytest.raises(ModelError):
        parse_model(plant_text(buffers=buffers))


# --------------------------------------------------------------------------- JSON Schema


def test_json_schema() -> None:
    schema = json.loads(json_schema())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "factorytwin plant model"
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"factorytwin", "enterprise", "sources", "virtual_plant", "alerts", "analytics"}
    assert set(schema["required"]) == {"factorytwin", "enterprise"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["factorytwin"]["const"] == 1
    defs = schema["$defs"]
    assert {"Station", "StationSim", "Buffer", "Signal", "SignalSim", "OpcUaSource", "VirtualPlant"} <= set(defs)
    assert defs["StationSim"]["properties"]["scrap_rate"]["exclusiveMaximum"] == 1
    assert set(defs["Role"]["enum"]) == {r.value for r in Role}


# --------------------------------------------------------------------------- robustness


def _parse_or_model_error(text: str) -> None:
    """parse_model either returns a model or raises ModelError naming the file: nothing else escapes."""
    try:
        model = parse_model(text, "fuzz.yaml")
    except ModelError as exc:
        issues = exc.issues
    else:
        assert isinstance(model, PlantModel)
        return
    assert issues
    for issue in issues:
        assert issue.file == "fuzz.yaml"
        assert issue.line is None or issue.line >= 1
        assert str(issue).startswith("fuzz.yaml")


FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = plant_text()


@FUZZ
@given(st.text())
def test_arbitrary_text_only_raises_model_error(text: str) -> None:
    _parse_or_model_error(text)


# fmt: off
YAML_PIECES = [
    "\n", "  ", "    ", "- ", ": ", ", ", "[", "]", "{", "}", "&a ", "*a", "!!str ", "<<: ", "? ", "#", "'", '"', "|",
    "---", "~", "1", "-1.5", "0", "true", "1e400", ".nan", "x", "id", "factorytwin", "enterprise", "sites", "areas",
    "lines", "stations", "buffers", "signals", "sim", "sources", "virtual_plant", "binding", "opcua", "node", "role",
    "states", "follows", "serves", "capacity", "upstream", "downstream", "ns=2;s=A", "state", "level",
]
# fmt: on


@FUZZ
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=60).map("".join))
def test_yaml_like_text_only_raises_model_error(text: str) -> None:
    _parse_or_model_error(text)


@FUZZ
@given(st.integers(min_value=0, max_value=SMALL.count("\n") - 1), st.text(max_size=40), st.booleans())
def test_damaged_model_only_raises_model_error(line_no: int, junk: str, keep_indent: bool) -> None:
    lines = SMALL.splitlines()
    indent = lines[line_no][: len(lines[line_no]) - len(lines[line_no].lstrip())] if keep_indent else ""
    lines[line_no] = indent + junk
    _parse_or_model_error("\n".join(lines) + "\n")


def test_deeply_nested_text_only_raises_model_error() -> None:
    _parse_or_model_error("a: " + "{a: " * 300 + "1" + "}" * 300 + "\n")


# --------------------------------------------------------------------------- roles, setpoints, version


def _issues(text: str) -> list[str]:
    with pytest.raises(ModelError) as info:
        parse_model(text, "plant.yaml")
    return [str(i) for i in info.value.issues]


def test_a_level_signal_belongs_on_a_buffer_not_a_station() -> None:
    stations = STATIONS.replace("  signals:\n", "  signals:\n    - {id: level, role: level}\n", 1)
    text = plant_text(stations=stations)
    assert any("does not belong on a station" in i and ".role" in i for i in _issues(text))


def test_station_roles_do_not_belong_on_a_buffer() -> None:
    buffers = BUFFERS + "  signals:\n    - {id: state, role: state}\n"
    assert any("role 'state' does not belong on a buffer" in i for i in _issues(plant_text(buffers=buffers)))


def test_follows_must_name_a_setpoint_other_than_itself() -> None:
    stations = STATIONS.replace(
        "  signals:\n", "  signals:\n    - {id: temp, role: temperature, sim: {follows: temp}}\n", 1
    )
    assert any("'temp' is not a setpoint" in i for i in _issues(plant_text(stations=stations)))


@pytest.mark.parametrize("version", ["true", "1.0", "'1'"])
def test_the_format_version_is_the_whole_number_one(version: str) -> None:
    text = replace_once(plant_text(), "factorytwin: 1\n", f"factorytwin: {version}\n")
    assert any(i.startswith("plant.yaml:1: factorytwin:") for i in _issues(text))


@pytest.mark.parametrize("text", ["? {a: 1}\n: b\n", "? [1, 2]\n: b\n", "a:\n  ? {x: 1}\n  : 2\n", "a: [{? [1]: 2}]\n"])
def test_complex_yaml_keys_are_a_model_error(text: str) -> None:
    _parse_or_model_error(text)
