"""Refusing JSON bodies that Python's parser accepts but nothing after it can handle.

`json.loads` takes NaN and Infinity (not JSON: PostgreSQL's json type refuses them, so a
free-form field holding one was a 500 there and stored as is on SQLite), reads 1e400 as
infinity, raises a bare ValueError for an integer of more than 4,300 digits and a
RecursionError for deep nesting, which the views' parser (webargs) does not turn into a
400. One strict parse before the view answers all of them as malformed JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from app.http.problems import ApiError

# No request of this API nests deeper than a few levels; the bound keeps every later
# parse of an accepted body (deeper in the stack than this one) clear of the recursion limit.
MAX_DEPTH = 100
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class _Unreadable(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Unreadable(f"{name} is not a JSON number.")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 20 else text[:20] + "…"
        raise _Unreadable(f"The number {shown} is too large to read.")
    return value


def _nested_deeper(value: Any, limit: int) -> bool:
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def _maybe_deeper(body: bytes, limit: int) -> bool:
    """False when the body surely nests at most `limit` deep; cheap, unlike walking it.

    Each pass takes out the innermost bracket pairs (one or two levels, hence limit / 2
    passes); brackets inside strings can leave some unpaired, and then only walking the
    parsed body can tell.
    """
    brackets = body.translate(None, _NOT_BRACKETS)
    for _ in range(limit // 2):
        if not brackets:
            return False
        fewer = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if fewer == brackets:
            return True
        brackets = fewer
    return bool(brackets)


def refuse_unreadable_json() -> None:
    """before_request hook: 400 malformed-json for such a body. Syntax errors are left to
    the view's parser, which answers them the same way."""
    if not request.is_json:
        return
    body = request.get_data(cache=True)
    if not body:
        return
    detail = None
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return
    except _Unreadable as exc:
        detail = str(exc)
    except ValueError:  # the only other one: an integer too long to convert
        detail = "An integer has too many digits to read."
    except RecursionError:
        detail = f"The body is nested more than {MAX_DEPTH} levels deep."
    else:
        if _maybe_deeper(body, MAX_DEPTH) and _nested_deeper(value, MAX_DEPTH):
            detail = f"The body is nested more than {MAX_DEPTH} levels deep."
    if detail is not None:
        raise ApiError(400, detail, slug="malformed-json", title="Malformed JSON")
