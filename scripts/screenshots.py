"""Regenerate the console screenshots in docs/screenshots/ (the README shows them).

    .venv/bin/python scripts/screenshots.py [step ...]

Builds the app on a fresh SQLite database in a temporary folder, puts data in through the
same service functions the API uses, serves it on a local port and photographs pages with
Playwright and the system's Chromium (CHROMIUM_PATH, default /usr/bin/chromium), in
zh-CN at 1280 px. Each page is a step in STEPS; a page group adds its own.
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
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP  # noqa: E402
from tests.helpers import PASSWORD  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def _admin(app: Flask, name: str) -> str:
    with app.app_context(), unit_of_work():
        return users.register(email=f"{name}@example.com", password=PASSWORD,
                              roles=("admin",), display_name=name).email


def _sign_in(page: Any, email: str) -> None:
    page.goto("/console/login")
    page.get_by_label("邮箱或手机号").fill(email)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/console/admin"))


def methodology_diff(app: Flask, page: Any) -> Path:
    """A pending parameter change beside the version in force, as the approver sees it."""
    from tests.console.review_data import approve_defaults

    approve_defaults(app)
    proposer, approver = _admin(app, "王方法"), _admin(app, "李审批")
    _sign_in(page, proposer)
    page.goto("/console/admin/methodologies/paperless/propose")
    page.get_by_label("ef_receipt_g_per_sheet 的新值").fill("2.0")
    page.get_by_label("ef_receipt_g_per_sheet 新值的来源").fill(
        "南京市纸质小票抽样调查 2026,表 3(每张 2.0 g CO2e)")
    page.get_by_role("button", name="提交审批").click()
    page.wait_for_url(re.compile(r"/methodology-versions/\d+$"))
    version = page.url
    page.get_by_role("button", name="退出登录").click()
    _sign_in(page, approver)
    page.goto(version)
    path = OUT / "methodology-diff.png"
    page.screenshot(path=str(path), full_page=True)
    return path


STEPS: dict[str, Callable[[Flask, Any], Path]] = {
    "methodology-diff": methodology_diff,
}


def _app(folder: Path) -> Flask:
    env = {"DATABASE_URL": f"sqlite:///{folder / 'screens.db'}",
           "JWT_SECRET_KEY": secrets.token_urlsafe(48),
           "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48)}
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
        for name in names or list(STEPS):
            with tempfile.TemporaryDirectory() as folder:  # each step on its own data
                app = _app(Path(folder))
                server = make_server("127.0.0.1", 0, app, threaded=True)
                thread = threading.Thread(target=server.serve_forever, daemon=True)
                thread.start()
                context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                              locale="zh-CN", timezone_id="Asia/Shanghai",
                                              **DESKTOP)
                try:
                    print(STEPS[name](app, context.new_page()).relative_to(ROOT))
                finally:
                    context.close()
                    server.shutdown()
                    thread.join(timeout=5)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
