"""The operator dashboard in a real browser (Debian's Chromium, headless, driven by
Playwright) against the real platform: Keycloak's login form, live data over the GraphQL
WebSocket from simulated nodes, a dispatch followed until every node has completed, and
what a viewer may not do. Each page is saved as a screenshot under
.vpp-test/screenshots/ (git-ignored)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.integration.dashboard.conftest import fleet_ids
from tests.integration.test_api_automation import forecast_doc
from vpp.activities.forecast import ForecastActivities
from vpp.api.state import ApiState
from vpp.dispatch.documents import DISPATCHES
from vpp.edge_sim.fleet import Fleet
from vpp.ml.forecast.documents import FORECASTS
from vpp.ml.forecast.messages import PublishInput
from vpp.optimize.documents import AUTOMATION, DECISIONS, SWITCH_ID, DecisionRecord
from vpp.optimize.models import GuardChange, GuardRule
from vpp.store.documents import ALERTS, NODES
from vpp.store.live_state import epoch_ms

pytestmark = pytest.mark.slow

LIVE_TIMEOUT_MS = 30_000
DISPATCH_TIMEOUT_MS = 90_000


async def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Open the dashboard, which sends the browser to Keycloak's form; sign in there."""
    await page.goto(f"{base_url}/")
    await page.wait_for_url(re.compile(r"/realms/vpp/protocol/openid-connect/auth"))
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#kc-login")
    await page.wait_for_url(re.compile(re.escape(base_url) + r"/($|\?|[a-z])"))
    await expect(page.get_by_test_id("user")).to_contain_text(username, timeout=LIVE_TIMEOUT_MS)


@pytest.fixture
async def context(
    browser: Browser, dashboard_origin: str, api: FastAPI
) -> AsyncIterator[BrowserContext]:
    """A fresh browser; the API serving the dashboard is up, whichever test runs first."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    await context.close()


async def test_operator_sees_live_data_and_dispatches_to_every_node(
    context: BrowserContext,
    base_url: str,
    platform: Fleet,
    web_dist: Path,
    screenshots: Path,
) -> None:
    page = await context.new_page()
    await log_in(page, base_url, "vpp-operator", "vpp-operator-dev")
    await see_live_fleet(page, screenshots)
    await search_nodes(page, screenshots)
    await refuse_bad_kw(page, screenshots)
    await dispatch_to_every_node(page, screenshots)
    await visit_other_pages(page, base_url, screenshots)
    await fold_for_a_phone_and_log_out(page, base_url, screenshots)


async def see_live_fleet(page: Page, screenshots: Path) -> None:
    """The KPIs fill from the aggregate subscription, then change as readings arrive."""
    online = page.get_by_test_id("kpi-online")
    await expect(online).to_contain_text(re.compile(r"updated"), timeout=LIVE_TIMEOUT_MS)
    await page.wait_for_function(
        """() => {
          const v = document.querySelector('[data-testid=kpi-online] .kpi-value').textContent;
          const m = v.match(/^(\\d+) \\/ (\\d+)$/);
          return m && Number(m[1]) >= 6;
        }""",
        timeout=LIVE_TIMEOUT_MS,
    )
    first = await online.inner_text()
    await expect(online).not_to_have_text(first, timeout=LIVE_TIMEOUT_MS)  # a later push
    # The last hour's history (the fleet's recorded minutes) loaded without an error, and
    # so do the longer ranges, averaged per bucket.
    await expect(page.get_by_text(re.compile(r"^history:"))).to_have_count(0)
    for span in ("24h", "7d", "1h"):
        await page.get_by_test_id(f"fleet-range-{span}").click()
        await expect(page.get_by_test_id("chart-power")).to_contain_text(f"last {span}")
        await page.wait_for_load_state("networkidle")
        await expect(page.get_by_text(re.compile(r"^history:"))).to_have_count(0)
    first_live_ms = await page.evaluate("window.__vppFirstLive")
    assert first_live_ms is not None
    assert first_live_ms < 10_000, f"first live data {first_live_ms:.0f} ms after load"
    await page.screenshot(path=str(screenshots / "fleet.png"), full_page=True)


async def search_nodes(page: Page, screenshots: Path) -> None:
    await page.get_by_role("link", name="Nodes", exact=True).click()
    await page.get_by_test_id("node-search").fill(fleet_ids()[0])
    table = page.get_by_test_id("nodes-table")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table.locator("tbody tr")).to_contain_text("Online", timeout=LIVE_TIMEOUT_MS)
    await page.screenshot(path=str(screenshots / "nodes.png"), full_page=True)


async def refuse_bad_kw(page: Page, screenshots: Path) -> None:
    """A bad kW value is refused with a clear message; nothing is sent."""
    await page.get_by_role("link", name="Dispatch", exact=True).click()
    for node_id in fleet_ids():
        await page.locator(f"input[data-node='{node_id}']").check()
    await page.select_option("select[name=action]", "DISCHARGE")
    await page.fill("input[name=kw]", "lots")
    await page.get_by_test_id("dispatch-review").click()
    await expect(page.get_by_test_id("kw-error")).to_have_text(
        "kW must be a number, e.g. 20 or 12.5."
    )
    await expect(page.get_by_test_id("dispatch-confirm")).to_have_count(0)
    await page.fill("input[name=kw]", "-3")
    await page.get_by_test_id("dispatch-review").click()
    await expect(page.get_by_test_id("kw-error")).to_contain_text("cannot be negative")
    await page.screenshot(path=str(screenshots / "dispatch-bad-kw.png"), full_page=True)


async def dispatch_to_every_node(page: Page, screenshots: Path) -> None:
    """Confirm, then each node's progress live until every one has completed."""
    await page.fill("input[name=kw]", "2")
    await page.fill("input[name=minutes]", "0.1")
    await page.get_by_test_id("dispatch-review").click()
    await expect(page.get_by_test_id("dispatch-confirm")).to_contain_text("6 nodes")
    await page.get_by_test_id("dispatch-send").click()
    await page.wait_for_url(re.compile(r"/dispatch/[^/]+$"))
    summary = page.get_by_test_id("dispatch-summary")
    await expect(summary).to_have_attribute("data-status", "COMPLETED", timeout=DISPATCH_TIMEOUT_MS)
    rows = page.get_by_test_id("dispatch-nodes").locator("tbody tr")
    await expect(rows).to_have_count(len(fleet_ids()))
    for node_id in fleet_ids():
        row = page.locator(f"tr[data-node='{node_id}']")
        await expect(row).to_have_attribute("data-status", "COMPLETED")
    await expect(page.get_by_test_id("dispatch-counts")).to_contain_text("6 of 6 finished")
    await page.screenshot(path=str(screenshots / "dispatch-progress.png"), full_page=True)


async def visit_other_pages(page: Page, base_url: str, screenshots: Path) -> None:
    """The node's page lists the command; the dispatch list shows it; the rest render."""
    await page.goto(f"{base_url}/nodes/{fleet_ids()[0]}")
    await expect(page.get_by_test_id("node-commands")).to_contain_text("Completed")
    await expect(page.get_by_test_id("node-power-chart")).to_be_visible()
    # Whatever its kind, a node no cycle has forecast yet says when one will.
    await expect(page.get_by_text("No forecast for this node yet")).to_contain_text(
        "once it has a day of recent history"
    )
    await page.screenshot(path=str(screenshots / "node.png"), full_page=True)
    await page.get_by_role("link", name="Dispatch", exact=True).click()
    await expect(page.get_by_test_id("past-dispatches")).to_contain_text("Discharge")
    # Narrowed to the operator's own completed dispatches: each row listed is one.
    await page.get_by_test_id("dispatches-issuer").select_option("vpp-operator")
    await page.get_by_test_id("dispatches-status").select_option("COMPLETED")
    past = page.get_by_test_id("past-dispatches").locator("tbody tr")
    await expect(past.filter(has_not_text="vpp-operator")).to_have_count(0)
    await expect(past.filter(has_not_text="Completed")).to_have_count(0)
    await expect(past.filter(has_text="Discharge")).not_to_have_count(0)
    await page.get_by_test_id("dispatches-status").select_option("REFUSED")
    await expect(past.filter(has_not_text="Refused")).to_have_count(0)
    for name in ("Alerts", "Forecasts", "Automation"):
        await page.get_by_role("link", name=name, exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(name)
        if name == "Forecasts":
            # The next day's envelope always has its 24 hours; a backtest may not be stored.
            await expect(page.get_by_test_id("flexibility-envelope")).to_be_visible()
            # The homes alone: the query takes the kind, and the page stays without error.
            await page.get_by_test_id("flexibility-kind").select_option("HOME_DER")
            await page.wait_for_load_state("networkidle")
            await expect(page.get_by_test_id("flexibility-envelope")).to_be_visible()
            await expect(page.get_by_text("Flexibility not available")).to_have_count(0)
            # Live accuracy: scored hours, or a note that none has been measured yet.
            scored = page.get_by_test_id("forecast-accuracy")
            none_yet = page.get_by_text("has a measured hour yet")
            await expect(scored.or_(none_yet)).to_be_visible()
            await page.get_by_test_id("accuracy-days").select_option("7")
            await page.wait_for_load_state("networkidle")
            await expect(scored.or_(none_yet)).to_be_visible()
            await expect(page.get_by_text("Accuracy not available")).to_have_count(0)
            stored = page.get_by_test_id("backtest")
            await expect(stored.or_(page.get_by_text("No backtest stored yet"))).to_be_visible()
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(screenshots / f"{name.lower()}.png"), full_page=True)


async def fold_for_a_phone_and_log_out(page: Page, base_url: str, screenshots: Path) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{base_url}/")
    await expect(page.get_by_test_id("kpi-power")).to_be_visible()
    await expect(page.get_by_role("link", name="Nodes", exact=True)).to_be_hidden()
    await page.screenshot(path=str(screenshots / "fleet-phone.png"), full_page=True)
    await page.get_by_role("button", name="Menu").click()
    await expect(page.get_by_role("link", name="Nodes", exact=True)).to_be_visible()
    # Logout ends the session: the dashboard sends the browser back to the login form.
    await page.get_by_test_id("logout").click()
    await page.wait_for_url(re.compile(r"/realms/vpp/protocol/openid-connect/auth"))
    await expect(page.locator("#username")).to_be_visible()


async def test_viewer_finds_no_dispatch_control(
    context: BrowserContext, base_url: str, web_dist: Path, screenshots: Path
) -> None:
    page = await context.new_page()
    await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
    await page.get_by_role("link", name="Dispatch", exact=True).click()
    await expect(page.get_by_test_id("read-only-note")).to_be_visible()
    await expect(page.get_by_test_id("dispatch-form")).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("dispatch", re.I))).to_have_count(0)
    await page.screenshot(path=str(screenshots / "dispatch-viewer.png"), full_page=True)


async def test_admin_switches_the_automation_and_an_operator_cannot(
    context: BrowserContext, base_url: str, web_dist: Path, screenshots: Path, api: FastAPI
) -> None:
    """The admin's switches reach the stored switch the cycles read; an operator sees the
    state but no control."""
    state: ApiState = api.state.vpp
    await state.db[AUTOMATION].delete_one({"_id": SWITCH_ID})
    try:
        page = await context.new_page()
        await log_in(page, base_url, "vpp-admin", "vpp-admin-dev")
        await page.get_by_role("link", name="Automation", exact=True).click()
        status = page.get_by_test_id("automation-state")
        await expect(status).to_contain_text("Automation is on")
        await page.get_by_role("button", name="Switch automation off").click()
        await expect(status).to_contain_text("Automation is off")
        await expect(status).to_contain_text("last changed by vpp-admin")
        stored = await state.db[AUTOMATION].find_one({"_id": SWITCH_ID})
        assert stored is not None
        assert stored["enabled"] is False
        await page.get_by_role("button", name="Switch automation on").click()
        await expect(status).to_contain_text("Automation is on")
        # The box follows the server's answer, not the click: wait for the text.
        await page.get_by_label("Dry run").click()
        await expect(status).to_contain_text("in dry run")
        await page.screenshot(path=str(screenshots / "automation-admin.png"), full_page=True)
        stored = await state.db[AUTOMATION].find_one({"_id": SWITCH_ID})
        assert stored is not None
        assert (stored["enabled"], stored["dry_run"]) == (True, True)
        await page.get_by_test_id("logout").click()
        await page.wait_for_url(re.compile(r"/realms/vpp/protocol/openid-connect/auth"))

        await log_in(page, base_url, "vpp-operator", "vpp-operator-dev")
        await page.get_by_role("link", name="Automation", exact=True).click()
        await expect(page.get_by_test_id("automation-state")).to_contain_text("in dry run")
        await expect(page.get_by_test_id("automation-controls")).to_have_count(0)
    finally:
        await state.db[AUTOMATION].delete_one({"_id": SWITCH_ID})


async def test_operator_narrows_the_decisions_to_a_node_and_to_those_that_acted(
    context: BrowserContext, base_url: str, web_dist: Path, screenshots: Path, api: FastAPI
) -> None:
    """45 cycles' decisions of two homes, stored as the optimiser stores them: the page
    shows 40, then the rest on "Show more"; a node id narrows them to that node, "only
    those that sent a command" to the one that did, and a malformed id gets the API's
    error with no rows."""
    state: ApiState = api.state.vpp
    quiet, acting = "node-01791", "node-01792"
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    docs = []
    for i in range(45):
        cycle = f"dash-decisions-{i:02d}"
        at = start + timedelta(minutes=15 * i)
        for dc_id in (quiet, acting):
            sent = dc_id == acting and i == 44
            record = DecisionRecord(
                cycle_id=cycle,
                dc_id=dc_id,
                decided_at=at,
                policy="policy-ppo_residual v1",
                requested_kw=-2.0,
                kw=-2.0 if sent else 0.0,
                action="discharge" if sent else None,
                changes=[]
                if sent
                else [
                    GuardChange(
                        rule=GuardRule.EXPORT,
                        reason="no export: discharge capped at the home's net load 0.00 kW",
                        kw_before=-2.0,
                        kw_after=0.0,
                    )
                ],
                expected_saving=0.12 if sent else 0.0,
                dispatch_id="dashdecisions44" if sent else None,
            )
            docs.append({"_id": f"{cycle}:{dc_id}", **record.model_dump()})
    await state.db[DECISIONS].insert_many(docs)
    try:
        page = await context.new_page()
        await log_in(page, base_url, "vpp-operator", "vpp-operator-dev")
        await page.get_by_role("link", name="Automation", exact=True).click()
        rows = page.get_by_test_id("decisions").locator("tbody tr")

        await page.get_by_test_id("decisions-node").fill(quiet)
        await page.get_by_test_id("decisions-node").press("Enter")
        await expect(rows).to_have_count(40)
        await expect(rows.first).to_contain_text(quiet)
        await expect(rows.filter(has_text=acting)).to_have_count(0)
        await expect(rows.first).to_contain_text("no export")
        await page.get_by_test_id("decisions-more").click()
        await expect(rows).to_have_count(45)
        await expect(page.get_by_test_id("decisions-more")).to_have_count(0)

        await page.get_by_test_id("decisions-node").fill(acting)
        await page.get_by_test_id("decisions-node").press("Enter")
        await expect(rows).to_have_count(40)
        await page.get_by_test_id("decisions-acting").check()
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("Discharge")
        await page.screenshot(path=str(screenshots / "automation-decisions.png"), full_page=True)
        await page.get_by_test_id("decisions-node").fill(quiet)
        await page.get_by_test_id("decisions-node").press("Enter")
        none = page.get_by_text(f"No decision for {quiet} that sent a command yet.")
        await expect(none).to_be_visible()

        await page.get_by_test_id("decisions-node").fill("no such node!")
        await page.get_by_test_id("decisions-node").press("Enter")
        await expect(page.get_by_text("Decisions not available")).to_contain_text("node id")
        await expect(page.get_by_test_id("decisions")).to_have_count(0)
    finally:
        await state.db[DECISIONS].delete_many({"cycle_id": {"$regex": "^dash-decisions-"}})


async def test_the_alerts_page_lists_stored_alerts_under_the_live_ones(
    context: BrowserContext, base_url: str, web_dist: Path, screenshots: Path, api: FastAPI
) -> None:
    """Alerts stored before the page opened are listed, newest first, and filtered by kind;
    a node's link leads to its page, which lists the node's own alerts."""
    state: ApiState = api.state.vpp
    node = fleet_ids()[-1]
    now = datetime.now(UTC).replace(microsecond=0)
    gone, back = now - timedelta(minutes=2), now - timedelta(minutes=1)
    docs = [
        {
            "_id": f"node_offline:{node}:{epoch_ms(gone)}",
            "kind": "node_offline",
            "at": gone,
            "message": f"{node} went offline (dashboard test)",
            "dc_id": node,
            "freq": None,
            "freq_status": None,
        },
        {
            "_id": f"frequency_restored:grid:{epoch_ms(back)}",
            "kind": "frequency_restored",
            "at": back,
            "message": "grid frequency back to normal (dashboard test)",
            "dc_id": None,
            "freq": 50.01,
            "freq_status": "normal",
        },
    ]
    await state.db[ALERTS].insert_many(docs)
    try:
        page = await context.new_page()
        await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
        await page.get_by_role("link", name="Alerts", exact=True).click()
        listed = page.get_by_test_id("alerts").locator("li")
        ours = listed.filter(has_text="(dashboard test)")
        await expect(ours).to_have_count(2)
        await expect(ours.first).to_contain_text("grid frequency back")  # the newer first
        await page.get_by_role("button", name="Node offline", exact=True).click()
        await expect(ours).to_have_count(1)
        await expect(ours.first).to_contain_text(f"{node} went offline")
        await page.screenshot(path=str(screenshots / "alerts-stored.png"), full_page=True)
        await ours.first.get_by_role("link", name=node).click()
        await page.wait_for_url(f"**/nodes/{node}")
        own = page.get_by_test_id("node-alerts").locator("li")
        await expect(own.filter(has_text="(dashboard test)")).to_have_count(1)
        await expect(own.filter(has_text="grid frequency")).to_have_count(0)
    finally:
        await state.db[ALERTS].delete_many({"_id": {"$in": [d["_id"] for d in docs]}})


async def test_nodes_that_went_offline_together_are_one_row_of_the_alerts(
    context: BrowserContext, base_url: str, web_dist: Path, screenshots: Path, api: FastAPI
) -> None:
    """A restart or a broker outage takes many nodes offline at once: the Alerts page shows
    them as one row naming the first few, which opens to every node's alert."""
    state: ApiState = api.state.vpp
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    docs = [
        {
            "_id": f"node_offline:dash-burst-{n}:{epoch_ms(then)}",
            "kind": "node_offline",
            "at": then - timedelta(milliseconds=200 * n),
            "message": f"dash-burst-{n} went offline: it disconnected",
            "dc_id": f"dash-burst-{n}",
            "freq": None,
            "freq_status": None,
        }
        for n in range(1, 5)
    ]
    await state.db[ALERTS].insert_many(docs)
    try:
        page = await context.new_page()
        await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
        await page.get_by_role("link", name="Alerts", exact=True).click()
        burst = page.get_by_test_id("alert-burst").filter(has_text="dash-burst-")
        await expect(burst).to_have_count(1)
        await expect(burst.locator("summary")).to_contain_text(
            re.compile(r"\d+ nodes went offline within 1 s: dash-burst-1, dash-burst-2")
        )
        await expect(
            page.get_by_test_id("alerts").locator(".alert", has_text="dash-burst-")
        ).to_have_count(1)
        await burst.locator("summary").click()
        nodes = burst.locator(".burst li").filter(has_text="dash-burst-")
        await expect(nodes).to_have_count(4)
        await expect(nodes.last).to_contain_text("dash-burst-4 went offline")
        await page.screenshot(path=str(screenshots / "alerts-burst.png"), full_page=True)
    finally:
        await state.db[ALERTS].delete_many({"_id": {"$in": [d["_id"] for d in docs]}})


async def test_a_failed_dispatch_on_the_alerts_page_says_what_became_of_its_nodes(
    context: BrowserContext, base_url: str, web_dist: Path, api: FastAPI
) -> None:
    """A dispatch that ended with no node done, as one whose deadline passed while the
    platform was down: the Alerts page lists it with its nodes' outcome, and opens it."""
    state: ApiState = api.state.vpp
    now = datetime.now(UTC).replace(microsecond=0)
    dispatch_id = f"dash-failed-{uuid.uuid4().hex[:8]}"
    counts = dict.fromkeys(("pending", "sent", "accepted", "completed", "rejected", "cancelled"), 0)
    await state.db[DISPATCHES].insert_one(
        {
            "_id": dispatch_id,
            "workflow_id": f"dispatch-{dispatch_id}",
            "action": "charge",
            "params": {"kw": 1.0, "duration_s": 900},
            "targets": ["dash-node-a", "dash-node-b"],
            "issued_by": "dash-tester",
            "created_at": now,
            "deadline": now + timedelta(minutes=1),
            "status": "failed",
            "node_count": 2,
            "shard_count": 1,
            "counts": counts | {"expired": 2},
            "finished_at": now + timedelta(minutes=1),
        }
    )
    try:
        page = await context.new_page()
        await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
        await page.get_by_role("link", name="Alerts", exact=True).click()
        row = page.locator("li.alert", has_text="by dash-tester")
        await expect(row).to_contain_text("Charge by dash-tester: 0 of 2 completed: 2 expired")
        await row.click()
        await page.wait_for_url(f"**/dispatch/{dispatch_id}")
    finally:
        await state.db[DISPATCHES].delete_one({"_id": dispatch_id})


@pytest.mark.usefixtures("platform", "web_dist")  # the node registered, the page built
async def test_a_node_page_draws_the_nodes_newest_forecasts(
    context: BrowserContext, base_url: str, screenshots: Path, api: FastAPI
) -> None:
    """The node's load and PV forecasts, as the Forecasts page draws them, with the model;
    a newer cycle's, published by the cycle's activity, replace them without a reload."""
    state: ApiState = api.state.vpp
    node = fleet_ids()[1]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await state.db[FORECASTS].insert_many(
        [
            forecast_doc(node, "load_kw", hour, [1.0 + k / 24 for k in range(24)]),
            forecast_doc(node, "pv_kw", hour, [max(0.0, 2.0 - abs(k - 12) / 3) for k in range(24)]),
        ]
    )
    try:
        page = await context.new_page()
        await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
        await page.goto(f"{base_url}/nodes/{node}")
        await expect(page.get_by_test_id("forecast-load")).to_contain_text("load_kw-lightgbm v1")
        await expect(page.get_by_test_id("forecast-pv")).to_contain_text("pv_kw-lightgbm v1")
        await expect(page.get_by_test_id("forecast-load")).not_to_contain_text("stale")
        await page.screenshot(path=str(screenshots / "node-forecast.png"), full_page=True)

        newer = forecast_doc(node, "load_kw", hour, [2.0] * 24)
        newer |= {"cycle_id": f"{newer['cycle_id']}-next", "model_version": 2}
        await state.db[FORECASTS].insert_one(newer)
        publisher = ForecastActivities(state.db, state.redis, state.settings.forecast)
        await publisher.publish_cycle(PublishInput(cycle_id=newer["cycle_id"]))
        # Pushed within a second; well within the 30 s the page reads its node data again.
        await expect(page.get_by_test_id("forecast-load")).to_contain_text(
            "load_kw-lightgbm v2", timeout=10_000
        )
        await expect(page.get_by_test_id("forecast-pv")).to_contain_text("pv_kw-lightgbm v1")
    finally:
        await state.db[FORECASTS].delete_many({"series_id": node})


@pytest.mark.usefixtures("platform", "web_dist")  # the node registered, the page built
async def test_a_forecast_no_cycle_has_renewed_is_shown_as_stale(
    context: BrowserContext, base_url: str, screenshots: Path, api: FastAPI
) -> None:
    """A node the cycles stopped forecasting (no history for two days) keeps its last
    forecast; three hours on, with a newer one due two cycles after it, the page says so."""
    state: ApiState = api.state.vpp
    node = fleet_ids()[2]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    old = forecast_doc(node, "load_kw", hour, [1.0] * 24)
    old["issued_at"] = datetime.now(UTC) - timedelta(hours=3, minutes=30)  # "3 h ago" for 30 min
    await state.db[FORECASTS].insert_one(old)
    try:
        page = await context.new_page()
        await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
        await page.goto(f"{base_url}/nodes/{node}")
        chart = page.get_by_test_id("forecast-load")
        await expect(chart).to_contain_text("load_kw-lightgbm v1")
        await expect(chart).to_contain_text("stale: made 3 h ago")
        await page.screenshot(path=str(screenshots / "node-forecast-stale.png"), full_page=True)
    finally:
        await state.db[FORECASTS].delete_many({"series_id": node})


@pytest.mark.usefixtures("platform", "web_dist")  # the nodes registered, the page built
async def test_a_fleet_forecast_short_of_nodes_says_which_it_sums(
    context: BrowserContext, base_url: str, screenshots: Path, api: FastAPI
) -> None:
    """The cycle sums only the nodes with a day of recent history: a fleet forecast of
    one node while more are registered is titled as that sum and warns of the rest."""
    state: ApiState = api.state.vpp
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    doc = forecast_doc("fleet", "load_kw", hour, [3.0] * 24) | {"nodes": 1}
    await state.db[FORECASTS].insert_one(doc)
    try:
        registered = await state.db[NODES].count_documents({})
        assert registered > 1
        page = await context.new_page()
        await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
        await page.get_by_role("link", name="Forecasts", exact=True).click()
        chart = page.get_by_test_id("forecast-load")
        await expect(chart).to_contain_text(f"sum of 1 of {registered} nodes")
        await expect(chart).to_contain_text(
            f"leaves out {registered - 1} node{'s' if registered > 2 else ''} with less than"
        )
        await page.screenshot(path=str(screenshots / "fleet-forecast-short.png"), full_page=True)
    finally:
        await state.db[FORECASTS].delete_one({"_id": doc["_id"]})


async def test_a_node_that_is_not_registered_is_said_so(
    context: BrowserContext, base_url: str, web_dist: Path, screenshots: Path
) -> None:
    """A page for an unknown node (a typo, a removed node) says it is not registered and
    offers the list, rather than loading for ever."""
    page = await context.new_page()
    await log_in(page, base_url, "vpp-viewer", "vpp-viewer-dev")
    await page.goto(f"{base_url}/nodes/node-99999")
    await expect(page.get_by_role("alert")).to_contain_text("No node node-99999 is registered")
    await expect(page.get_by_text("Loading the node")).to_have_count(0)
    await page.get_by_role("button", name="All nodes").click()
    await page.wait_for_url("**/nodes")
