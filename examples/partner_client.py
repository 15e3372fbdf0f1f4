#!/usr/bin/env python3
"""A reference client for the Carbon Points partner API (docs/partners.md).

Standard library only, and independent of the server's code: copy it into your own
project. It signs each request as the guide's section 4 says and sends it.

    export PARTNER_SECRET='ps_…'
    python3 partner_client.py --base-url http://127.0.0.1:5000 --key-id pk_… bind K7QM-3XPA card-42
    python3 partner_client.py --base-url … --key-id pk_… status card-42
    python3 partner_client.py --base-url … --key-id pk_… batch records.json   # or - for stdin

It prints the answer's JSON and exits 0 on a 2xx, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

API_PREFIX = "/api/v1/partner"
REPLAYED = "/problems/partner-auth-replayed"


def canonical_string(timestamp: str, method: str, path: str, body: bytes) -> str:
    """Timestamp, METHOD, path (as on the request line, no query) and the body's SHA-256."""
    return "\n".join([timestamp, method.upper(), path, hashlib.sha256(body).hexdigest()])


def sign(secret: str, key_id: str, method: str, path: str, body: bytes,
         timestamp: int) -> dict[str, str]:
    """The three signature headers. The HMAC key is the whole secret, `ps_` included, as
    UTF-8; the signature is lowercase hex."""
    ts = str(timestamp)
    message = canonical_string(ts, method, path, body).encode("utf-8")
    mac = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return {"X-Partner-Key": key_id, "X-Timestamp": ts, "X-Signature": mac}


class PartnerClient:
    def __init__(self, base_url: str, key_id: str, secret: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self.timeout = timeout

    def request(self, method: str, path: str, payload: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        """Send one signed request; `path` is already percent-encoded and may carry a query
        string, which is not signed. Returns (status, headers, parsed JSON or None)."""
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        answer = self._send(method, path, body, headers)
        if answer[0] == 401 and (answer[2] or {}).get("type") == REPLAYED:
            # An identical request was signed in this same second (by a retry, or another
            # process), so the signature is taken: sign again in the next second.
            time.sleep(1 - time.time() % 1)
            answer = self._send(method, path, body, headers)
        return answer

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str] | None
              ) -> tuple[int, dict[str, str], Any]:
        signed = sign(self.secret, self.key_id, method, path.split("?", 1)[0], body,
                      int(time.time()))
        all_headers = {"Accept": "application/json", **(headers or {}), **signed}
        if body:
            all_headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=body or None,
                                     headers=all_headers, method=method.upper())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, dict(resp.headers), _json(resp.read())
        except urllib.error.HTTPError as err:  # a 4xx or 5xx still has a problem+json body
            return err.code, dict(err.headers), _json(err.read())

    def bind(self, code: str, partner_user_ref: str):
        """Link the citizen who gave you `code` to your user `partner_user_ref`."""
        return self.request("POST", f"{API_PREFIX}/links",
                            {"code": code, "partner_user_ref": partner_user_ref})

    def link_status(self, partner_user_ref: str):
        return self.request("GET", f"{API_PREFIX}/links/"
                            + urllib.parse.quote(partner_user_ref, safe=""))

    def send_batch(self, records: list[dict], idempotency_key: str | None = None):
        """Send up to 1,000 records; resending the same external ids never credits twice."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", f"{API_PREFIX}/behaviours", {"records": records}, headers)


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--key-id", required=True)
    commands = parser.add_subparsers(dest="command", required=True)
    bind = commands.add_parser("bind", help="bind a citizen's link code to your user id")
    bind.add_argument("code")
    bind.add_argument("partner_user_ref")
    status = commands.add_parser("status", help="is this user linked?")
    status.add_argument("partner_user_ref")
    batch = commands.add_parser("batch", help="send records from a JSON file (- for stdin)")
    batch.add_argument("file")
    batch.add_argument("--idempotency-key")
    args = parser.parse_args(argv)

    secret = os.environ.get("PARTNER_SECRET")
    if not secret:
        parser.error("set PARTNER_SECRET to the key's secret (never pass it as an argument)")
    client = PartnerClient(args.base_url, args.key_id, secret)
    if args.command == "bind":
        status_code, _, answer = client.bind(args.code, args.partner_user_ref)
    elif args.command == "status":
        status_code, _, answer = client.link_status(args.partner_user_ref)
    else:
        with (sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")) as f:
            loaded = json.load(f)
        records = loaded["records"] if isinstance(loaded, dict) else loaded
        status_code, _, answer = client.send_batch(records, args.idempotency_key)
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0 if 200 <= status_code < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
