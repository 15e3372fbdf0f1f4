"""综合管理平台: the server-rendered console for administrators and merchant staff.

Pages live on one blueprint under /console (app/console/blueprint.py); each group of
pages is a module of views that call the same service functions as the JSON API.
docs/console.md says how to add a page.
"""

from __future__ import annotations

from flask import Flask


def init_console(app: Flask) -> None:
    from app.console import admin_audit as _audit  # noqa: F401  (routes)
    from app.console import admin_citizens as _citizens  # noqa: F401  (routes)
    from app.console import admin_merchants as _merchants  # noqa: F401  (routes)
    from app.console import admin_methodologies as _methodologies  # noqa: F401  (routes)
    from app.console import admin_partners as _partners  # noqa: F401  (routes)
    from app.console import admin_review as _review  # noqa: F401  (routes)
    from app.console import admin_views, auth_views, merchant_views  # noqa: F401  (routes)
    from app.console.blueprint import app_http_error, blp, commit_failure_page
    from app.console.session import ConsoleSessionInterface
    from app.uow import FAILURE_PAGE

    app.session_interface = ConsoleSessionInterface()
    app.register_blueprint(blp)
    # /console paths that no console route matched (the blueprint's handlers never see
    # them), and console pages whose commit failed: the console's HTML page, not JSON.
    app.register_error_handler(404, app_http_error)
    app.register_error_handler(405, app_http_error)
    app.extensions[FAILURE_PAGE] = commit_failure_page
