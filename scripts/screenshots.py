"""Regenerate docs/screenshots/*.png: the console on demo-like data, in the browser harness
of tests/browser (the system's Chromium, zh-CN, Asia/Shanghai).

    .venv/bin/python scripts/screenshots.py            # every screenshot
    .venv/bin/python scripts/screenshots.py verify     # only those named

Each screenshot is a function in SHOTS: it gets a fresh app (a migrated SQLite database
in a temporary folder), that app's live server URL and the browser, and writes its PNG.
Add one for a new page.
"""

from __future__ import annotations

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
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, MOBILE, Account, sign_in  # noqa: E402
from tests.console.shop import open_shop  # noqa: E402

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
    "dashboard": dashboard,
}


def _app(folder: Path) -> Flask:
    env = {"DATABASE_URL": f"sqlite:///{folder / 'screens.db'}",
           "JWT_SECRET_KEY": "screenshots-" + "x" * 40, "LOG_LEVEL": "WARNING"}
    app = create_app(env, instance_path=str(folder / "instance"), TESTING=True)
    with app.app_context():
        upgrade()
    return app


def main(names: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name in names or list(SHOTS):
            with tempfile.TemporaryDirectory() as tmp:
                app = _app(Path(tmp))
                server = make_server("127.0.0.1", 0, app, threaded=True)
                thread = threading.Thread(target=server.serve_forever, daemon=True)
                thread.start()
                try:
                    SHOTS[name](app, f"http://127.0.0.1:{server.server_port}", browser)
                finally:
                    server.shutdown()
                print(f"{name}: written")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
