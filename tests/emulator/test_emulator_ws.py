"""The GraphQL WebSocket side (graphql-transport-ws on GET /graphql), over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from emu_helpers import API_KEY, NOW_MS, REPORT_USAGE, post_gql
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from stigg_emulator import StiggEmulator, credit, customer, feature, snapshot
from stigg_emulator.timeutil import iso_ms

pytestmark = pytest.mark.asyncio

WS_PROTOCOL = "graphql-transport-ws"
TIMEOUT_S = 2.0
NOW_ISO = iso_ms(NOW_MS)

ON_ENTITLEMENTS = """
subscription OnEntitlementsUpdatedV2 {
  entitlementsUpdatedV2 {
    customerId resourceId accessDeniedReason
    entitlements {
      __typename
      ... on FeatureEntitlement { isGranted usageLimit currentUsage feature { refId } }
      ... on CreditEntitlement { usageLimit currentUsage currency { currencyId } }
    }
  }
}
"""
ON_USAGE = """
subscription OnUsageUpdatedV2 {
  usageUpdatedV2 {
    customerId resourceId
    entitlementReference { id type }
    usage { currentUsage usageUpdatedAt usagePeriodStart usagePeriodEnd }
  }
}
"""
ON_PACKAGE = """
subscription OnPackagePublished {
  packagePublished {
    accountId environmentId packageType packageRefId packageVersion migrationType
  }
}
"""
SUBSCRIPTIONS = {"ent": ("OnEntitlementsUpdatedV2", ON_ENTITLEMENTS),
                 "use": ("OnUsageUpdatedV2", ON_USAGE),
                 "pkg": ("OnPackagePublished", ON_PACKAGE)}


# -- helpers -------------------------------------------------------------------------------
async def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def ws_open(emu: StiggEmulator, key: str | None = API_KEY,
                  **options: Any) -> ClientConnection:
    """Connect with the subprotocol and send connection_init (unless key is None)."""
    options.setdefault("subprotocols", [WS_PROTOCOL])
    socket = await connect(emu.ws_url, open_timeout=TIMEOUT_S, **options)
    if key is not None:
        await send(socket, {"type": "connection_init", "payload": {
            "headers": {"X-API-KEY": key, "X-SDK-INSTANCE-ID": "instance-1"}}})
    return socket


async def send(socket: ClientConnection, message: dict[str, Any]) -> None:
    await socket.send(json.dumps(message))


async def recv(socket: ClientConnection, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def subscribe(socket: ClientConnection, sub_id: str, query: str,
                    operation_name: str | None = None) -> None:
    await send(socket, {"id": sub_id, "type": "subscribe", "payload": {
        "query": query, "operationName": operation_name, "variables": {}}})


async def closed_with(socket: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; the close code and reason."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), TIMEOUT_S)
    return socket.close_code, socket.close_reason


async def next_pong(socket: ClientConnection) -> dict[str, Any]:
    """Send a ping and return the next frame: a barrier proving nothing came before."""
    await send(socket, {"type": "ping"})
    return await recv(socket)


def data_of(frame: dict[str, Any], sub_id: str) -> dict[str, Any]:
    assert frame["type"] == "next" and frame["id"] == sub_id, frame
    return frame["payload"]["data"]


@pytest_asyncio.fixture
async def live_ws(emu: StiggEmulator) -> AsyncIterator[ClientConnection]:
    """An acknowledged socket with the three sidecar subscriptions (ids ent/use/pkg)."""
    socket = await ws_open(emu)
    assert await recv(socket) == {"type": "connection_ack"}
    for sub_id, (name, query) in SUBSCRIPTIONS.items():
        await subscribe(socket, sub_id, query, name)
    await wait_until(lambda: emu.ws_live_clients() == 1 and len(emu.ws_subscriptions) == 3)
    try:
        yield socket
    finally:
        await socket.close()


# -- connection ------------------------------------------------------------------------------
async def test_ack_with_the_right_key(emu, live_ws):
    assert emu.ws_connections == 1
    assert emu.ws_connection_attempts == 1
    assert emu.ws_inits == [{"headers": {"x-api-key": API_KEY,
                                         "x-sdk-instance-id": "instance-1"},
                             "accepted": True}]
    assert [(s["id"], s["operationName"], s["rootField"]) for s in emu.ws_subscriptions] == [
        ("ent", "OnEntitlementsUpdatedV2", "entitlementsUpdatedV2"),
        ("use", "OnUsageUpdatedV2", "usageUpdatedV2"),
        ("pkg", "OnPackagePublished", "packagePublished")]
    assert emu.ws_subscriptions[0]["query"] == ON_ENTITLEMENTS
    state = emu.state()["ws"]
    assert state["liveClients"] == 1 and state["connections"] == 1
    assert emu.validation_failures == []


async def test_wrong_key_closes_4401(emu):
    socket = await ws_open(emu, key="wrong")
    assert await closed_with(socket) == (4401, "Invalid API key")
    assert emu.ws_inits[0]["accepted"] is False
    assert emu.ws_live_clients() == 0


async def test_subprotocol_and_upgrade_are_required(emu):
    socket = await ws_open(emu, key=None, subprotocols=["graphql-ws"])
    assert (await closed_with(socket))[0] == 4406
    assert emu.ws_connections == 0 and emu.ws_connection_attempts == 1
    assert emu.validation_failures[-1]["kind"] == "header"
    async with httpx.AsyncClient() as http:
        assert (await http.get(emu.graphql_url)).status_code == 400


async def test_no_init_closes_4408(emu):
    emu.ws_init_timeout_s = 0.05
    socket = await ws_open(emu, key=None)
    assert (await closed_with(socket))[0] == 4408


async def test_subscribe_before_ack_and_duplicate_id(emu):
    early = await ws_open(emu, key=None)
    await subscribe(early, "a", ON_PACKAGE)
    assert (await closed_with(early))[0] == 4401
    socket = await ws_open(emu)
    assert (await recv(socket))["type"] == "connection_ack"
    await subscribe(socket, "a", ON_PACKAGE)
    await subscribe(socket, "a", ON_PACKAGE)
    assert (await closed_with(socket))[0] == 4409
    assert [f["kind"] for f in emu.validation_failures] == ["ws", "ws"]


async def test_ping_pong(emu, live_ws):
    assert await next_pong(live_ws) == {"type": "pong"}
    await send(live_ws, {"type": "pong"})
    assert await next_pong(live_ws) == {"type": "pong"}
    assert emu.ws_pings_received == 2


# -- pushes -------------------------------------------------------------------------------
async def test_set_customer_pushes_entitlements(emu, live_ws):
    emu.set_customer("newco", [feature("seats", "NUMBER", usageLimit=5),
                               credit("usd-credits", usageLimit=10, currentUsage=1)],
                     resource_id="ws-9")
    update = data_of(await recv(live_ws), "ent")["entitlementsUpdatedV2"]
    assert update == {
        "customerId": "newco", "resourceId": "ws-9", "accessDeniedReason": None,
        "entitlements": [
            {"__typename": "FeatureEntitlement", "isGranted": True, "usageLimit": 5,
             "currentUsage": None, "feature": {"refId": "seats"}},
            {"__typename": "CreditEntitlement", "usageLimit": 10, "currentUsage": 1,
             "currency": {"currencyId": "usd-credits"}}]}
    assert emu.ws_pushes[-1]["frames"] == 1


async def test_selection_shaping(emu):
    socket = await ws_open(emu)
    await recv(socket)
    await subscribe(socket, "s", """
        subscription Narrow { upd: entitlementsUpdatedV2 {
          who: customerId accountId environmentId
          entitlements { ...F } } }
        fragment F on FeatureEntitlement { feature { refId } }""")
    await wait_until(lambda: emu.ws_live_clients() == 1)
    emu.set_customer("c1", [feature("sso"), credit("usd-credits")], "NoActiveSubscription")
    data = data_of(await recv(socket), "s")
    assert data == {"upd": {"who": "c1", "accountId": emu.account_id,
                            "environmentId": emu.environment_id,
                            "entitlements": [{"feature": {"refId": "sso"}}, {}]}}
    await socket.close()


async def test_set_usage_pushes_usage(emu, live_ws):
    emu.set_usage("acme", "api-calls", 77)
    update = data_of(await recv(live_ws), "use")["usageUpdatedV2"]
    assert update == {
        "customerId": "acme", "resourceId": None,
        "entitlementReference": {"id": "api-calls", "type": "FEATURE"},
        "usage": {"currentUsage": 77, "usageUpdatedAt": NOW_ISO,
                  "usagePeriodStart": "2025-07-01T00:00:00.000Z",
                  "usagePeriodEnd": "2025-08-01T00:00:00.000Z"}}


async def test_report_usage_over_http_pushes_feature_then_credit(emu, live_ws, client):
    response = await post_gql(client, REPORT_USAGE, {"input": {
        "customerId": "acme", "featureId": "ai-tokens", "value": 100}})
    assert response.json()["data"]["reportUsage"]["credit"]["currencyId"] == "usd-credits"
    first = data_of(await recv(live_ws), "use")["usageUpdatedV2"]
    second = data_of(await recv(live_ws), "use")["usageUpdatedV2"]
    assert first["entitlementReference"] == {"id": "ai-tokens", "type": "FEATURE"}
    assert first["usage"]["currentUsage"] == 100
    assert second["entitlementReference"] == {"id": "usd-credits", "type": "CREDIT"}
    assert second["usage"]["currentUsage"] == pytest.approx(121)
    assert second["usage"]["usagePeriodEnd"] == "2025-08-01T00:00:00.000Z"
    assert second["usage"]["usageUpdatedAt"] == NOW_ISO


async def test_purge_and_remove(emu, live_ws):
    assert emu.purge_customer("acme") == 1
    purge = data_of(await recv(live_ws), "ent")["entitlementsUpdatedV2"]
    assert purge == {"customerId": "acme", "resourceId": None, "accessDeniedReason": None,
                     "entitlements": []}
    assert emu.get_state("acme")["entitlementsV2"]  # kept by default
    emu.purge_customer("acme", "workspace-1", remove=True)
    purge = data_of(await recv(live_ws), "ent")["entitlementsUpdatedV2"]
    assert (purge["resourceId"], purge["entitlements"]) == ("workspace-1", [])
    assert await next_pong(live_ws) == {"type": "pong"}  # exactly one push for it
    assert emu.get_state("acme", "workspace-1")["accessDeniedReason"] == "CustomerNotFound"
    emu.remove_customer("trial-co")
    purge = data_of(await recv(live_ws), "ent")["entitlementsUpdatedV2"]
    assert (purge["customerId"], purge["entitlements"], purge["accessDeniedReason"]) == (
        "trial-co", [], None)


async def test_publish_package(emu, live_ws):
    emu.publish_package()
    emu.publish_package("NEW_CUSTOMERS", package_ref_id="addon-y", package_type="Addon",
                        package_version=7)
    first = data_of(await recv(live_ws), "pkg")["packagePublished"]
    second = data_of(await recv(live_ws), "pkg")["packagePublished"]
    assert first == {"accountId": emu.account_id, "environmentId": emu.environment_id,
                     "packageType": "Plan", "packageRefId": "plan-x", "packageVersion": 2,
                     "migrationType": "ALL_CUSTOMERS"}
    assert (second["packageRefId"], second["packageType"], second["packageVersion"],
            second["migrationType"]) == ("addon-y", "Addon", 7, "NEW_CUSTOMERS")
    with pytest.raises(ValueError):
        emu.publish_package("SOME_CUSTOMERS")


async def test_load_snapshot_pushes_every_entry_and_purges_the_gone(emu, live_ws):
    emu.load_snapshot(snapshot(customer("solo", [feature("sso")])))
    frames = [data_of(await recv(live_ws), "ent")["entitlementsUpdatedV2"] for _ in range(4)]
    assert frames[0]["customerId"] == "solo" and len(frames[0]["entitlements"]) == 1
    assert {(f["customerId"], f["resourceId"]) for f in frames[1:]} == {
        ("acme", None), ("acme", "workspace-1"), ("trial-co", None)}
    assert all(f["entitlements"] == [] and f["accessDeniedReason"] is None
               for f in frames[1:])


async def test_push_enabled_flag_and_complete(emu, live_ws):
    emu.ws_push_enabled = False
    emu.set_customer("quiet", [feature("sso")])
    emu.set_usage("acme", "api-calls", 1)
    assert await next_pong(live_ws) == {"type": "pong"}
    assert emu.publish_package() == 1  # explicit pushes ignore the flag
    assert data_of(await recv(live_ws), "pkg")
    emu.ws_push_enabled = True
    await send(live_ws, {"id": "ent", "type": "complete"})
    await wait_until(lambda: emu.state()["ws"]["clients"][0]["subscriptions"][0]["id"] != "ent")
    emu.set_customer("quiet", [])
    assert await next_pong(live_ws) == {"type": "pong"}


async def test_large_push_entitlements_frame(emu, live_ws):
    items = [feature(f"f-{i:05d}", "NUMBER", usageLimit=i,
                     feature={"description": "d" * 400})
             for i in range(12000)]
    big_query = ON_ENTITLEMENTS.replace("feature { refId }", "feature { refId description }")
    socket = await ws_open(emu, max_size=8 * 1024 * 1024)
    await recv(socket)
    await subscribe(socket, "big", big_query)
    await wait_until(lambda: emu.ws_live_clients() == 2)
    assert emu.push_entitlements("acme", items) == 2
    raw = await asyncio.wait_for(socket.recv(), 5.0)
    assert 5 * 1024 * 1024 <= len(raw) < 8 * 1024 * 1024
    update = data_of(json.loads(raw), "big")["entitlementsUpdatedV2"]
    assert len(update["entitlements"]) == 12000
    assert update["entitlements"][-1]["feature"] == {"refId": "f-11999",
                                                     "description": "d" * 400}
    assert emu.get_state("acme")["entitlementsV2"][0]["feature"]["refId"] == "sso"
    await socket.close()


async def test_push_raw(emu, live_ws):
    assert emu.push_raw({"id": "ent", "type": "complete"}) == 1
    assert await recv(live_ws) == {"id": "ent", "type": "complete"}
    emu.push_raw("not json")
    assert await asyncio.wait_for(live_ws.recv(), TIMEOUT_S) == "not json"


# -- validation ---------------------------------------------------------------------------
async def test_bad_document_answers_error_and_is_recorded(emu, live_ws):
    await subscribe(live_ws, "bad", "subscription Bad { entitlementsUpdatedV2 { nope } }",
                    "Bad")
    frame = await recv(live_ws)
    assert frame["id"] == "bad" and frame["type"] == "error"
    assert frame["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nope" in frame["payload"][0]["message"]
    failure = emu.validation_failures[-1]
    assert (failure["kind"], failure["operation"]) == ("document", "Bad")
    await subscribe(live_ws, "v1", "subscription { usageUpdated { usage { customerId } } }")
    frame = await recv(live_ws)
    assert (frame["type"], frame["payload"][0]["extensions"]["code"]) == (
        "error", "EMULATOR_UNSUPPORTED")
    assert len(emu.validation_failures) == 1
    assert len(emu.ws_subscriptions) == 3
    await live_ws.send("{not json")
    assert (await closed_with(live_ws))[0] == 4400


# -- faults -------------------------------------------------------------------------------
async def test_mute_then_unmute(emu, live_ws):
    emu.ws_mute(True)
    await send(live_ws, {"type": "ping"})
    emu.set_customer("lost", [feature("sso")])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(live_ws.recv(), 0.15)
    emu.ws_mute(False)
    assert await next_pong(live_ws) == {"type": "pong"}
    assert emu.ws_pings_received == 2
    assert emu.state()["ws"]["framesDropped"] == 2


async def test_mute_silences_websocket_level_pongs(emu, live_ws):
    emu.ws_mute(True)
    waiter = await live_ws.ping()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(waiter, 0.15)
    emu.ws_mute(False)
    await asyncio.wait_for(await live_ws.ping(), TIMEOUT_S)


async def test_close_all(emu, live_ws):
    assert emu.ws_close_all(1011, "bye") == 1
    assert await closed_with(live_ws) == (1011, "bye")
    await wait_until(lambda: emu.ws_live_clients() == 0 and not emu.state()["ws"]["clients"])


async def test_abort_all(emu, live_ws):
    emu.ws_close_all(abort=True)
    assert (await closed_with(live_ws))[0] == 1006


async def test_refuse(emu):
    emu.ws_refuse(True)
    with pytest.raises(InvalidStatus) as refused:
        await ws_open(emu)
    assert refused.value.response.status_code == 503
    assert (emu.ws_connection_attempts, emu.ws_connections) == (1, 0)
    emu.ws_refuse(False)
    socket = await ws_open(emu)
    assert await recv(socket) == {"type": "connection_ack"}
    await socket.close()


async def test_reject_key(emu, live_ws):
    emu.ws_reject_key(True)
    socket = await ws_open(emu)
    assert await closed_with(socket) == (4401, "Invalid API key")
    assert emu.ws_live_clients() == 1  # connections made before stay
    emu.clear_faults()
    socket = await ws_open(emu)
    assert await recv(socket) == {"type": "connection_ack"}
    await socket.close()


async def test_faults_and_pushes_over_control_routes(emu, live_ws):
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        answer = await control.post("/_emulator/fault",
                                    json={"target": "ws", "mode": "mute", "enabled": True})
        assert answer.json()["ws"] == {"muted": True, "refuse": False, "rejectKey": False}
        await control.post("/_emulator/fault", json={"target": "ws", "mode": "none"})
        assert not emu.ws.muted
        bad = await control.post("/_emulator/fault", json={"target": "ws", "mode": "nope"})
        assert bad.status_code == 400
        answer = await control.post("/_emulator/ws", json={
            "action": "publish_package", "migration_type": "NEW_CUSTOMERS"})
        assert answer.json() == {"frames": 1}
        assert data_of(await recv(live_ws), "pkg")["packagePublished"]["migrationType"] == (
            "NEW_CUSTOMERS")
        state = (await control.get("/_emulator/state")).json()["ws"]
        assert state["liveClients"] == 1 and len(state["subscriptions"]) == 3
        await control.post("/_emulator/fault",
                           json={"target": "ws", "mode": "close_all", "code": 4500,
                                 "reason": "maintenance"})
        assert await closed_with(live_ws) == (4500, "maintenance")


async def test_stop_closes_with_1001(emu, live_ws):
    await emu.stop()
    assert (await closed_with(live_ws))[0] == 1001
