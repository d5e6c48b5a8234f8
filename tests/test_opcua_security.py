"""OPC UA security over real sessions: Basic256Sha256 SignAndEncrypt, trust lists, users."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from factorytwin.cli import free_port
from factorytwin.connect.opcua_security import CertificatePair, certificate_pair
from factorytwin.events import Quality
from factorytwin.model import PlantModel, relocate
from factorytwin.model.sources import OpcUaSecurity
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin

from .conftest import LINE


@pytest.fixture
def pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACTORYTWIN_PKI", str(tmp_path / "pki"))
    return tmp_path / "pki"


def secured(model: PlantModel, pki: Path, **fields: object) -> PlantModel:
    security = OpcUaSecurity(mode="SignAndEncrypt", trust=[str(pki)], username="operator", password="s3cret")
    security = security.model_copy(update=fields)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/factorytwin"
    return relocate(model, {"plant": {"endpoint": endpoint, "security": security}})


async def test_twin_reads_the_plant_over_an_encrypted_authenticated_session(model: PlantModel, pki: Path) -> None:
    model = secured(model, pki)
    async with VirtualPlant(model, speed=20), Twin(model) as twin:
        assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 20)
        assert all(s.quality is Quality.GOOD for s in twin.state.signals.values())
        assert (pki / "plant-server.der").is_file()
        assert (pki / "plant-client.der").is_file()
        # an anonymous, unencrypted client is turned away
        with pytest.raises((ua.UaError, OSError, TimeoutError)):
            async with Client(model.sources["plant"].endpoint, timeout=3) as anonymous:  # type: ignore[union-attr]
                await anonymous.get_node("ns=2;s=Line1.Filler.GoodCount").read_value()


async def test_a_client_certificate_the_plant_does_not_trust_is_refused(
    model: PlantModel, pki: Path, tmp_path: Path
) -> None:
    model = secured(model, pki)
    stranger = CertificatePair(tmp_path / "stranger" / "cert.der", tmp_path / "stranger" / "cert-key.pem")
    await stranger.ensure("urn:stranger", server=False)
    async with VirtualPlant(model, speed=20):
        client = Client(model.sources["plant"].endpoint, timeout=3)  # type: ignore[union-attr]
        client.application_uri = "urn:stranger"
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            str(stranger.certificate),
            str(stranger.private_key),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )
        client.set_user("operator")
        client.set_password("s3cret")
        with pytest.raises((ua.UaError, OSError, TimeoutError)):
            await client.connect()
        await client.disconnect()


async def test_wrong_password_is_refused_and_reported_in_source_health(model: PlantModel, pki: Path) -> None:
    plant_model = secured(model, pki)
    twin_model = relocate(
        plant_model,
        {
            "plant": {
                "security": plant_model.sources["plant"].security.model_copy(  # type: ignore[union-attr]
                    update={"password": "guess"}
                )
            }
        },
    )
    async with VirtualPlant(plant_model, speed=20), Twin(twin_model) as twin:
        health = twin.connectors["plant"].health
        assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 20)
        assert all(s.quality is Quality.STALE for s in twin.state.signals.values())
        assert not health.connected
        assert health.errors >= 1
        assert "Identity" in (health.last_error or "") or "User" in (health.last_error or "")


async def test_twin_refuses_a_server_certificate_outside_its_trust_list(
    model: PlantModel, pki: Path, tmp_path: Path
) -> None:
    plant_model = secured(model, pki)
    elsewhere = tmp_path / "other-trust"
    await CertificatePair(elsewhere / "someone.der", tmp_path / "someone-key.pem").ensure("urn:someone", server=True)
    twin_model = relocate(
        plant_model,
        {
            "plant": {
                "security": plant_model.sources["plant"].security.model_copy(  # type: ignore[union-attr]
                    update={"trust": [str(elsewhere)]}
                )
            }
        },
    )
    async with VirtualPlant(plant_model, speed=20), Twin(twin_model) as twin:
        health = twin.connectors["plant"].health
        assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 20)
        assert not health.connected
        assert health.errors >= 1
        assert twin.state.get(f"{LINE}/filler/good_count").quality is Quality.STALE  # type: ignore[union-attr]
        assert "no certificate" not in (health.last_error or "")


async def test_an_empty_trust_list_is_a_clear_error(model: PlantModel, pki: Path, tmp_path: Path) -> None:
    plant_model = secured(model, pki)
    empty = tmp_path / "empty"
    empty.mkdir()
    twin_model = relocate(
        plant_model,
        {
            "plant": {
                "security": plant_model.sources["plant"].security.model_copy(  # type: ignore[union-attr]
                    update={"trust": [str(empty)]}
                )
            }
        },
    )
    async with Twin(twin_model) as twin:
        health = twin.connectors["plant"].health
        assert await twin.wait_for(lambda: health.errors >= 1, 10)
        assert "holds no certificate" in (health.last_error or "")


def test_default_certificate_locations_follow_the_pki_directory(pki: Path) -> None:
    security = OpcUaSecurity()
    assert certificate_pair(security, "plc1", "client").certificate == pki / "plc1-client.der"
    assert certificate_pair(security, "plc1", "server").private_key == pki / "plc1-server-key.pem"
    named = OpcUaSecurity(certificate="/etc/ft/twin.der")
    assert certificate_pair(named, "plc1", "client").private_key == Path("/etc/ft/twin-key.pem")
