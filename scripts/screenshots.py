"""Regenerate docs/screenshots/*.png (the README shows them): the console on demo-like
data, in the browser harness of tests/browser (the system's Chromium, CHROMIUM_PATH, default
/usr/bin/chromium; zh-CN, Asia/Shanghai).

    .venv/bin/python scripts/screenshots.py            # every screenshot (make screenshots)
    .venv/bin/python scripts/screenshots.py verify     # only those named

Each screenshot is a function in SHOTS: it gets a fresh app (a migrated SQLite database in a
temporary folder, data put in through the same service functions the API uses), that app's
live server URL and the browser, and writes its PNG. A page group adds its own.
"""

from __future__ import annotations

import re
import secrets
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from app.uow import unit_of_work  # noqa: E402
from app.users import service as users  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    MOBILE,
    Account,
    sign_in,
)
from tests.console.shop import open_shop  # noqa: E402
from tests.helpers import PASSWORD  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def _context(browser: Any, base_url: str, options: dict) -> Any:
    return browser.new_context(base_url=base_url, locale="zh-CN",
                               timezone_id="Asia/Shanghai", **options)


def verify_screen(app: Flask, base_url: str, browser: Any) -> None:
    """核销 on a 360 px phone, just after a code was fulfilled."""
    shop = open_shop(app, name="绿色咖啡 鼓楼店", staff_email="cashier@example.com")
    code = shop.code()
    context = _context(browser, base_url, MOBILE)
    page = context.new_page()
    sign_in(page, Account(shop.staff_id, shop.staff_email), expect="/console/merchant/verify")
    page.get_by_label("券码").fill(code)
    page.get_by_role("button", name="核销", exact=True).click()
    page.get_by_role("status").wait_for()
    page.screenshot(path=str(OUT / "verify-zh-360.png"), full_page=True)
    context.close()


def _admin(app: Flask, name: str) -> str:
    with app.app_context(), unit_of_work():
        return users.register(email=f"{name}@example.com", password=PASSWORD,
                              roles=("admin",), display_name=name).email


def _sign_in_admin(page: Any, email: str) -> None:
    page.goto("/console/login")
    page.get_by_label("邮箱或手机号").fill(email)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/console/admin"))


def methodology_diff(app: Flask, base_url: str, browser: Any) -> None:
    """A pending parameter change beside the version in force, as the approver sees it."""
    from tests.console.review_data import approve_defaults

    approve_defaults(app)
    proposer, approver = _admin(app, "王方法"), _admin(app, "李审批")
    context = _context(browser, base_url, DESKTOP)
    page = context.new_page()
    _sign_in_admin(page, proposer)
    page.goto("/console/admin/methodologies/paperless/propose")
    page.get_by_label("ef_receipt_g_per_sheet 的新值").fill("2.0")
    page.get_by_label("ef_receipt_g_per_sheet 新值的来源").fill(
        "南京市纸质小票抽样调查 2026,表 3(每张 2.0 g CO2e)")
    page.get_by_role("button", name="提交审批").click()
    page.wait_for_url(re.compile(r"/methodology-versions/\d+$"))
    version = page.url
    page.get_by_role("button", name="退出登录").click()
    _sign_in_admin(page, approver)
    page.goto(version)
    page.screenshot(path=str(OUT / "methodology-diff.png"), full_page=True)
    context.close()


def dashboard(app: Flask, base_url: str, browser: Any) -> None:
    """总览 for the last 30 days: the demo accounts (`flask seed-demo`) and, as the
    dashboard's benchmark writes them, 3,000 behaviours of 300 citizens from three partners
    and self-reports, and 60 redemptions of which half are verified."""
    import re
    from argparse import Namespace

    from app.demo.cli import DEMO_ACCOUNTS, seed_demo
    from bench.dashboard_bench import seed

    email = DEMO_ACCOUNTS[0][0]
    seeded = app.test_cli_runner().invoke(seed_demo)
    assert seeded.exit_code == 0, seeded.output
    password = re.search(rf"{re.escape(email)}\s+(\S+)", seeded.output).group(1)
    seed(app, Namespace(behaviours=3_000, citizens=300, days=30, redemptions=60))
    context = _context(browser, base_url, {"viewport": {"width": 1440, "height": 900}})
    page = context.new_page()
    sign_in(page, Account(0, email, password=password))
    page.goto("/console/admin?period=30d")
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')]"
                           ".every(el => el.hasAttribute('data-chart-ready'))")
    page.screenshot(path=str(OUT / "dashboard-zh.png"), full_page=True)
    context.close()


SHOTS: dict[str, Callable[[Flask, str, Any], None]] = {
    "verify": verify_screen,
    "methodology-diff": methodology_diff,
    "dashboard": dashboard,
}


def _app(folder: Path) -> Flask:
    env = {"DATABASE_URL": f"sqlite:///{folder / 'screens.db'}",
           "JWT_SECRET_KEY": secrets.token_urlsafe(48),
           "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48), "LOG_LEVEL": "WARNING"}
    migrating = create_app(env, instance_path=str(folder / "instance"))
    with migrating.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    # Built again on the migrated database: at start-up it records the methodology
    # modules' default versions, as a served app does.
    return create_app(env, instance_path=str(folder / "instance"))


def main(names: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=[*CHROMIUM_ARGS, "--lang=zh-CN"])
        for name in names or list(SHOTS):
            with tempfile.TemporaryDirectory() as tmp:  # each screenshot on its own data
                app = _app(Path(tmp))
                server = make_server("127.0.0.1", 0, app, threaded=True)
                thread = threading.Thread(target=server.serve_forever, daemon=True)
                thread.start()
                try:
                    SHOTS[name](app, f"http://127.0.0.1:{server.server_port}", browser)
                finally:
                    server.shutdown()
                    thread.join(timeout=5)
                print(f"{name}: written")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
