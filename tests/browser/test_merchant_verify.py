"""核销 at the counter, on a 360 px phone: the answer the page shows and what is stored."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Account, sign_in
from tests.console.shop import open_shop


@pytest.fixture
def shop(app):
    return open_shop(app)


def test_staff_verifies_a_code_on_a_phone_and_again(mobile_page, shop):
    page = mobile_page
    code = shop.code()
    sign_in(page, Account(shop.staff_id, shop.staff_email), expect=r"/console/merchant/verify")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
    page.get_by_label("券码").fill(code.lower())
    page.get_by_role("button", name="核销", exact=True).click()
    result = page.get_by_role("status")
    result.wait_for()
    assert "核销成功" in result.inner_text() and "低碳咖啡一杯" in result.inner_text()
    assert shop.status_of(code) == "fulfilled"
    box = page.get_by_role("button", name="核销", exact=True).bounding_box()
    assert box["height"] >= 44 and box["width"] >= 300  # thumb-sized

    page.get_by_label("券码").fill(code)
    page.get_by_role("button", name="核销", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("此券码已核销")
    assert "核销时间" in alert.inner_text()
    assert shop.status_of(code) == "fulfilled"
    assert page.locator("[data-scan-start]").is_hidden()  # still no scanner after a swap


def test_scan_button_shows_only_where_qr_codes_can_be_read(mobile_page, shop):
    page = mobile_page
    sign_in(page, Account(shop.staff_id, shop.staff_email), expect=r"/console/merchant/verify")
    # Linux Chromium has no working BarcodeDetector: manual entry only.
    assert page.locator("[data-scan-start]").is_hidden()


# A browser whose BarcodeDetector reads QR codes, and a camera that shows one: the code
# read is verified as if typed.
_FAKE_SCANNER = """
window.BarcodeDetector = class {
  static getSupportedFormats() { return Promise.resolve(['qr_code', 'ean_13']); }
  constructor(options) { this.options = options; }
  detect() { return Promise.resolve([{rawValue: window.__scannedCode, format: 'qr_code'}]); }
};
navigator.mediaDevices.getUserMedia = () => {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  canvas.getContext('2d').fillRect(0, 0, 64, 64);
  return Promise.resolve(canvas.captureStream(5));
};
"""


def test_scanning_a_code_verifies_it(mobile_page, shop):
    page = mobile_page
    code = shop.code()
    page.add_init_script(_FAKE_SCANNER + f"window.__scannedCode = '{code}';")
    sign_in(page, Account(shop.staff_id, shop.staff_email), expect=r"/console/merchant/verify")
    page.get_by_role("button", name="扫码").click()
    page.get_by_role("status").wait_for()
    assert "核销成功" in page.get_by_role("status").inner_text()
    assert shop.status_of(code) == "fulfilled"
