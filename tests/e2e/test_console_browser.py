"""The web console in a real browser (issue 15 item 3): Debian's headless chromium driven by
Playwright against a real server in ``--auth verify`` (so the page's login is used too). The
key store is built and broken the way the guide does it (boto3, the AWS CLI, cloudhsm-cli);
the page must follow without being reloaded. Screenshots go to the ``artifacts`` directory of
the run's pytest temporary directory (printed at the end of the run)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guide_helpers import Env, build_env, error, module_env_server

from hsmkms.kms.connection import CANNOT_COMMUNICATE
from hsmkms.testing.server import ServerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: How long the page may take to show a change (a generous bound for a loaded machine: the
#: change arrives by server-sent event within a fraction of a second).
SHOWN_WITHIN_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory, HSMKMS_AUTH="verify")
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    return build_env(server)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if base.name.startswith("popen-gw"):  # an xdist worker: the run's directory is above
        base = base.parent
    path = base / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, server: ServerProcess, env: Env, artifacts: Path,
         request: pytest.FixtureRequest) -> Iterator[Any]:
    """A logged-in console page (its own browser context: its own cookie)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.goto(f"{server.endpoint}/_hsmkms/console")
    expect(tab.locator("#login")).to_be_visible()
    tab.fill("#login-token", server.admin_token)
    tab.click("#login-submit")
    expect(tab.locator("#main")).to_be_visible()
    expect(tab.locator(f'tr[data-store="{env.store_id}"]')).to_be_visible()
    expect(tab.locator("#live")).to_have_text("live", timeout=SHOWN_WITHIN_MS)
    try:
        yield tab
    finally:
        tab.screenshot(path=str(artifacts / f"{request.node.name}.png"), full_page=True)
        context.close()
    assert problems == [], problems


def store_row(page: Any, env: Env) -> Any:
    return page.locator(f'tr[data-store="{env.store_id}"]')


def test_login_is_refused_with_a_wrong_token(browser: Any, server: ServerProcess,
                                             artifacts: Path) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(f"{server.endpoint}/_hsmkms/console")
        tab.fill("#login-token", "not-the-admin-token")
        tab.click("#login-submit")
        expect(tab.locator("#login-error")).to_have_text("That is not the admin token.")
        expect(tab.locator("#main")).to_be_hidden()
        assert context.cookies() == []
        tab.screenshot(path=str(artifacts / "login_refused.png"))
    finally:
        context.close()


def test_the_page_shows_the_whole_system(page: Any, server: ServerProcess, env: Env,
                                         artifacts: Path) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    row = store_row(page, env)
    expect(row.locator("td.state")).to_have_text("CONNECTED")
    expect(row.locator("td.check")).to_contain_text("✓ the key store is CONNECTED")
    cluster = page.locator(f'div[data-cluster="{env.cluster_id}"]')
    expect(cluster).to_contain_text("ACTIVE")
    for h in env.cluster()["Hsms"]:
        hsm = cluster.locator(f'li[data-hsm="{h["HsmId"]}"]')
        expect(hsm).to_contain_text("ACTIVE")
        zone = hsm.locator("xpath=ancestor::div[contains(@class, 'zone')][1]")
        expect(zone.locator(".zone-name strong")).to_have_text(h["AvailabilityZone"])
    key_id = env.create_key("shown on the console")
    key = page.locator(f'tr[data-key="{key_id}"]')
    expect(key).to_contain_text("Enabled")
    expect(key).to_contain_text("SYMMETRIC_DEFAULT")
    expect(key).to_contain_text("AWS_CLOUDHSM")
    expect(key).to_contain_text(env.store_id)
    account = env.kms.describe_key(KeyId=key_id)["KeyMetadata"]["AWSAccountId"]
    expect(page.locator("#scopes")).to_contain_text(f"{account} us-east-1")
    expect(page.locator('#timeline li[data-name="CreateKey"]').first).to_be_visible()
    page.screenshot(path=str(artifacts / "console.png"), full_page=True)


def test_a_store_disconnected_with_the_cli_turns_disconnected_without_reload(
        page: Any, env: Env) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    page.evaluate("window.sameDocument = true")
    row = store_row(page, env)
    expect(row.locator("td.state")).to_have_text("CONNECTED")
    code, _out = env.aws("kms", "disconnect-custom-key-store", "--custom-key-store-id",
                         env.store_id)
    assert code == 0
    env.server.advance(1)
    expect(row.locator("td.state")).to_have_text("DISCONNECTED", timeout=SHOWN_WITHIN_MS)
    expect(row.locator("td.check")).to_contain_text(
        "the key store is DISCONNECTED: its KMS keys are Unavailable")
    expect(page.locator('#timeline li[data-name="DisconnectCustomKeyStore"]')).to_have_count(1)
    assert page.evaluate("window.sameDocument") is True  # not reloaded
    env.connect()
    expect(row.locator("td.state")).to_have_text("CONNECTED", timeout=SHOWN_WITHIN_MS)
    assert page.evaluate("window.sameDocument") is True


def test_the_doctor_shows_the_fix_for_invalid_credentials(page: Any, env: Env,
                                                          artifacts: Path) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    env.disconnect()
    env.set_kmsuser_password("changedPass3")
    env.connect(expect="FAILED")
    row = store_row(page, env)
    expect(row.locator("td.state")).to_have_text("FAILED", timeout=SHOWN_WITHIN_MS)
    expect(row.locator("td.error-code")).to_have_text("INVALID_CREDENTIALS")
    row.locator(f'button[data-doctor="{env.store_id}"]').click()
    check = page.locator('#doctor-checks li[data-check="store.connection"]')
    expect(check).to_contain_text("cause: INVALID_CREDENTIALS (guide: How to fix invalid "
                                  "kmsuser credentials)")
    sid, cid = env.store_id, env.cluster_id
    expect(check.locator("pre.fix")).to_have_text("\n".join([
        f"aws kms disconnect-custom-key-store --custom-key-store-id {sid}",
        f"cloudhsm-cli interactive --cluster-id {cid}",
        "aws-cloudhsm > login --username admin --role admin",
        "aws-cloudhsm > user change-password --username kmsuser --role crypto-user",
        "aws-cloudhsm > logout", "aws-cloudhsm > quit",
        (f"aws kms update-custom-key-store --custom-key-store-id {sid} "
         "--key-store-password <kmsuser-password>"),
        f"aws kms connect-custom-key-store --custom-key-store-id {sid}",
        f"aws kms describe-custom-key-stores --custom-key-store-id {sid}"]))
    page.screenshot(path=str(artifacts / "doctor_invalid_credentials.png"), full_page=True)
    # The fix, as the doctor says; the page follows.
    env.disconnect()
    env.update_password("changedPass3")
    env.connect()
    expect(row.locator("td.state")).to_have_text("CONNECTED", timeout=SHOWN_WITHIN_MS)
    expect(check).to_contain_text("✓ store.connection the key store is CONNECTED",
                                  timeout=SHOWN_WITHIN_MS)


def test_a_fault_added_on_the_page_breaks_crypto_until_cleared(page: Any, server: ServerProcess,
                                                               env: Env) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    key_id = env.create_key("fault test")
    assert env.decrypt(env.encrypt(key_id)) == b"guide"
    page.select_option("#fault-kind", "network-errors")
    page.select_option("#fault-cluster", env.cluster_id)
    # Cancelled: nothing happens.
    page.click("#fault-add")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_have_text(
        f"Add the fault network-errors to {env.cluster_id}?")
    page.click("#confirm-cancel")
    expect(page.locator("#confirm")).to_be_hidden()
    assert server.admin("GET", "faults") == {"faults": []}
    # Confirmed: the fault is there and crypto fails.
    page.click("#fault-add")
    page.click("#confirm-ok")
    row = page.locator("#faults tbody tr[data-fault]")
    expect(row).to_have_count(1, timeout=SHOWN_WITHIN_MS)
    [fault] = server.admin("GET", "faults")["faults"]
    assert (fault["fault"], fault["cluster_id"]) == ("network-errors", env.cluster_id)
    expect(row).to_contain_text(fault["fault_id"])
    code, message = error(env.kms.encrypt, KeyId=key_id, Plaintext=b"guide")
    assert (code, message) == ("KMSInvalidStateException", CANNOT_COMMUNICATE)
    # Cleared from the page: crypto works again.
    row.locator("button[data-clear]").click()
    expect(page.locator("#confirm-text")).to_have_text(
        f"Clear the fault network-errors ({fault['fault_id']}) of {env.cluster_id}?")
    page.click("#confirm-ok")
    expect(page.locator("#faults tbody tr[data-fault]")).to_have_count(0,
                                                                       timeout=SHOWN_WITHIN_MS)
    assert server.admin("GET", "faults") == {"faults": []}
    assert env.decrypt(env.encrypt(key_id)) == b"guide"
    expect(page.locator('#timeline li[data-name="ClearFault"]')).to_have_count(1)


def test_the_clock_advances_from_the_page_after_confirmation(page: Any,
                                                             server: ServerProcess) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    before = server.admin("GET", "clock")["offset"]
    page.fill("#clock-amount", "2")
    page.select_option("#clock-unit", "3600")
    page.click("#clock-advance")
    expect(page.locator("#confirm-text")).to_have_text(
        "Advance the clock by 2 hours (7200 s)? Everything scheduled in between runs now.")
    page.click("#confirm-cancel")
    assert server.admin("GET", "clock")["offset"] == before
    page.click("#clock-advance")
    page.click("#confirm-ok")
    expect(page.locator('#timeline li[data-name="AdvanceClock"]')).to_have_count(
        1, timeout=SHOWN_WITHIN_MS)
    assert server.admin("GET", "clock")["offset"] == before + 7200
