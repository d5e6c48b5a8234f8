"""Shared fixtures: the example model, free loopback ports, a running virtual plant with its twin."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from factorytwin.api import create_app
from factorytwin.cli import example_path, free_port
from factorytwin.model import PlantIndex, PlantModel, load_model
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin
from factorytwin.security import Role

ROOT = Path(__file__).resolve().parent.parent
LINE = "acme/lyon/bottling/line1"

logging.getLogger("asyncua").setLevel(logging.CRITICAL)


@pytest.fixture
def model() -> PlantModel:
    return load_model(example_path())


@pytest.fixture
def index(model: PlantModel) -> PlantIndex:
    return PlantIndex(model)


@pytest.fixture
def endpoints() -> dict[str, str]:
    return {"plant": f"opc.tcp://127.0.0.1:{free_port()}/factorytwin"}


@pytest.fixture
async def plant(model: PlantModel, endpoints: dict[str, str]) -> AsyncIterator[VirtualPlant]:
    async with VirtualPlant(model, speed=20, endpoints=endpoints) as vp:
        yield vp


@pytest.fixture
async def twin(model: PlantModel, endpoints: dict[str, str], plant: VirtualPlant) -> AsyncIterator[Twin]:
    async with Twin(model, endpoints=endpoints) as tw:
        assert await tw.wait_for(lambda: len(tw.state.signals) == len(tw.index.signals), 15), (
            "twin never saw all signals"
        )
        yield tw


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of an API token."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(twin: Twin) -> dict[str, str]:
    """One API token per role on the running twin: role name (viewer, operator, engineer, admin) -> token."""
    return {role.label: twin.security.tokens.create(role, f"test-{role.label}")[1] for role in Role}


@pytest.fixture
def auth_headers(tokens: dict[str, str]) -> dict[str, str]:
    """Headers of an admin token (allowed everything): pass them to every API request."""
    return bearer(tokens["admin"])


@contextlib.asynccontextmanager
async def serve(twin: Twin) -> AsyncIterator[str]:
    """The twin's API served by uvicorn on a free loopback port (in this event loop): its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(twin), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
