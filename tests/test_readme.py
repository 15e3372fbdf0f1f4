"""The README's examples work: its curl blocks run against a live server seeded as `make
run` seeds it, its JSON examples parse, and every Makefile knob is documented."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live_server import serving

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
QUICK_START_URL = "http://127.0.0.1:5000"
_BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
# Any failing call stops the script: curl fails on a 4xx or 5xx (and shows its body).
PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body --silent --show-error --max-time 30 "$@"; }
"""


def blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(README) if lang == language]


def _json_values(text: str) -> list:
    """Every JSON value printed one after another (curl adds no separator)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def test_readme_json_examples_parse():
    examples = blocks("json")
    assert examples
    for example in examples:
        json.loads(example)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl, as the README does")
def test_readme_curl_examples_work(app, tmp_path):
    script = "\n".join(b for b in blocks("sh") if "curl " in b)
    assert script.count(QUICK_START_URL) >= 5  # the first call, the trip and the redemption
    seeded = app.test_cli_runner().invoke(args=["seed-demo"])  # as `make run` does
    assert seeded.exit_code == 0, seeded.output
    with serving(app) as base_url:
        done = subprocess.run(["bash", "-c", PRELUDE + script.replace(QUICK_START_URL, base_url)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    answers = [v for v in _json_values(done.stdout) if isinstance(v, dict)]
    trip = next(a for a in answers if a.get("methodology") == "green_travel")
    assert trip["status"] == "credited" and trip["points"] > 0, trip
    account = next(a for a in answers if "available" in a)
    assert account["available"] == trip["points"]
    redemption = answers[-1]
    assert redemption["status"] == "reserved" and redemption["code"], redemption


def test_every_makefile_knob_is_documented():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    knobs = re.findall(r"^(\w+) \?=", makefile, re.M)
    assert knobs
    for knob in knobs:
        assert f"| `{knob}` |" in README, f"document the Makefile knob {knob} in the README"
