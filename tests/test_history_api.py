"""History buckets, chart reductions and CSV/Parquet exports over the API of a twin on the virtual plant."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pyarrow.parquet as pq
import pytest

from factorytwin.api import create_app
from factorytwin.model import PlantModel
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin
from factorytwin.security import Role

from .conftest import LINE, bearer

TEMP = f"{LINE}/filler/fill_volume"
COUNT = f"{LINE}/filler/good_count"


@pytest.fixture
async def api(twin: Twin, tokens: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(twin))
    async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=bearer(tokens["viewer"])) as c:
        yield c


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


async def ok(api: httpx.AsyncClient, path: str, **params: object) -> httpx.Response:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


async def test_buckets_reductions_and_exports_agree_with_the_stored_samples(
    api: httpx.AsyncClient, twin: Twin, plant: VirtualPlant
) -> None:
    origin = twin.clock.now().timestamp()
    assert await twin.wait_for(lambda: twin.state.get(TEMP).updates >= 25, 60)  # type: ignore[union-attr]
    await plant.pause()  # a closed window: nothing more arrives in it
    await twin.bus.drain()
    window = {"start": iso(origin - 60), "end": iso(twin.clock.now().timestamp() + 1)}
    raw = (await ok(api, "/api/history", signal=TEMP, **window)).json()["points"]
    values = [p["value"] for p in raw if p["quality"] == "good"]
    assert len(values) >= 20

    doc = (await ok(api, "/api/history/buckets", signal=TEMP, interval=0.5, **window)).json()
    assert doc["unit"] == "ml"
    assert doc["width_s"] == 0.5
    buckets = doc["buckets"]
    assert sum(b["count"] for b in buckets) == len(values)
    assert min(b["min"] for b in buckets) == min(values)
    assert max(b["max"] for b in buckets) == max(values)
    assert buckets[0]["first"] == values[0]
    assert buckets[-1]["last"] == values[-1]
    for b in buckets:
        assert b["min"] <= b["avg"] <= b["max"]
        assert b["min"] <= b["first"] <= b["max"]
    starts = [datetime.fromisoformat(b["start"]) for b in buckets]
    assert starts == sorted(starts)
    by_count = (await ok(api, "/api/history/buckets", signal=TEMP, count=4, **window)).json()
    assert len(by_count["buckets"]) <= 4
    assert sum(b["count"] for b in by_count["buckets"]) == len(values)

    lttb = (await ok(api, "/api/history/downsampled", signal=TEMP, points=10, **window)).json()
    assert lttb["total"] == len(values)
    assert len(lttb["points"]) == 10
    assert lttb["points"][0]["value"] == values[0]
    assert lttb["points"][-1]["value"] == values[-1]
    assert {p["value"] for p in lttb["points"]} <= set(values)
    extremes = (await ok(api, "/api/history/downsampled", signal=TEMP, points=6, method="minmax", **window)).json()
    kept = [p["value"] for p in extremes["points"]]
    assert max(kept) == max(values)
    assert min(kept) == min(values)

    text = (await ok(api, "/api/export", signals=f"{TEMP},{COUNT}", **window)).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["signal", "source_time", "receive_time", "value", "quality"]
    assert [float(r["value"]) for r in rows if r["signal"] == TEMP and r["quality"] == "good"] == values
    counts = [r for r in rows if r["signal"] == COUNT]
    assert counts
    assert int(float(counts[-1]["value"])) == twin.state.get(COUNT).value  # type: ignore[union-attr]
    response = await ok(api, "/api/export", signals=TEMP, format="parquet", **window)
    assert response.headers["content-disposition"].endswith('.parquet"')
    table = pq.read_table(io.BytesIO(response.content))
    assert table.num_rows == len(raw)
    assert table.column("value").to_pylist() == [p["value"] for p in raw]
    assert str(table.schema.field("source_time").type) == "timestamp[us, tz=UTC]"

    empty = {"start": iso(origin - 7200), "end": iso(origin - 3600)}
    assert (await ok(api, "/api/history/buckets", signal=TEMP, **empty)).json()["buckets"] == []
    assert (await ok(api, "/api/history/downsampled", signal=TEMP, **empty)).json()["points"] == []
    header_only = (await ok(api, "/api/export", signals=TEMP, **empty)).text
    assert header_only.strip() == '"signal","source_time","receive_time","value","quality"'


@pytest.mark.parametrize(
    ("path", "params", "status", "text"),
    [
        ("/api/history/buckets", {"signal": "acme/nowhere"}, 404, "unknown signal 'acme/nowhere'"),
        ("/api/history/buckets", {"signal": TEMP, "interval": 0}, 422, "greater than 0"),
        ("/api/history/buckets", {"signal": TEMP, "interval": 0.001}, 422, "at most 100000 buckets"),
        ("/api/history/downsampled", {"signal": TEMP, "points": 2}, 422, "greater than or equal to 3"),
        ("/api/history/downsampled", {"signal": TEMP, "method": "average"}, 422, "lttb"),
        ("/api/history/downsampled", {"signal": TEMP, "start": "2026-01-02", "end": "2026-01-01"}, 422, "before"),
        ("/api/export", {"signals": f"{TEMP},acme/nowhere"}, 404, "unknown signal 'acme/nowhere'"),
        ("/api/export", {"signals": " , "}, 422, "at least one signal"),
        ("/api/export", {"signals": TEMP, "format": "xlsx"}, 422, "parquet"),
        ("/api/export", {"signals": TEMP, "start": "0001-01-01T00:00:00+14:00"}, 422, "between the years 1 and 9999"),
    ],
)
async def test_bad_history_queries_get_a_clear_error(
    model: PlantModel, path: str, params: dict[str, object], status: int, text: str
) -> None:
    twin = Twin(model)  # not started: every one of these is refused before the historian is asked
    token = twin.security.tokens.create(Role.VIEWER, "test")[1]
    transport = httpx.ASGITransport(app=create_app(twin))
    async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=bearer(token)) as api:
        response = await api.get(path, params=params)
        assert (await api.get(path, params=params, headers={"Authorization": ""})).status_code == 401
    assert response.status_code == status
    assert text in response.text
