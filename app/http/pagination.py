"""The one pagination convention: ?page=&per_page= in, an envelope out.

Every list endpoint takes `page` (1-based, default 1) and `per_page` (default 20,
at most 100) and answers {"items": [...], "page", "per_page", "total", "pages"}.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy import BigInteger, Integer, Select, bindparam, func, select

from app.extensions import db
from app.http.ids import MAX_ID

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
# The page becomes OFFSET (page - 1) * per_page: past BIGINT the database refuses it (a 500).
MAX_PAGE = MAX_ID // MAX_PER_PAGE


class PageArgsSchema(ma.Schema):
    """Query arguments every list endpoint accepts; filter schemas extend it."""

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE),
                             metadata={"description": "1-based page number"})
    per_page = ma.fields.Integer(load_default=DEFAULT_PER_PAGE,
                                 validate=ma.validate.Range(min=1, max=MAX_PER_PAGE),
                                 metadata={"description": f"At most {MAX_PER_PAGE}"})


# Read once: instantiating the schema on every list request only to read its field names
# cost more than the rest of pop_page_args.
_PAGE_ARGS = tuple(PageArgsSchema().fields)


def pop_page_args(args: dict[str, Any]) -> dict[str, Any]:
    """Take page and per_page out of parsed query args; what remains are the filters."""
    return {name: args.pop(name) for name in _PAGE_ARGS}


_page_schemas: dict[type, type[ma.Schema]] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The envelope schema for a page of `item_schema` (one class per item type)."""
    if item_schema not in _page_schemas:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _page_schemas[item_schema] = ma.Schema.from_dict(
            {
                "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
                "page": ma.fields.Integer(required=True),
                "per_page": ma.fields.Integer(required=True),
                "total": ma.fields.Integer(required=True),
                "pages": ma.fields.Integer(required=True),
            },
            name=name,
        )
    return _page_schemas[item_schema]


# The page's LIMIT and OFFSET of a statement made by paged(). The OFFSET is a BIGINT, as
# paginate() would make it for the largest pages (up to MAX_PAGE).
_LIMIT = bindparam("page_limit", type_=Integer)
_OFFSET = bindparam("page_offset", type_=BigInteger)


def paged(stmt: Select) -> Select:
    """`stmt` (already ordered) with its page's LIMIT and OFFSET left as parameters, for a
    statement built once and given to paginate() with `params`.

    paginate() adds the LIMIT and OFFSET to any other statement on every call, and the copy
    that makes has its cache key computed afresh, a walk of the whole statement; a statement
    built once has it computed once.
    """
    return stmt.limit(_LIMIT).offset(_OFFSET)


def paginate(stmt: Select, args: dict[str, Any], *, scalars: bool = True,
             params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run `stmt` (already ordered) for one page; `total` counts all matching rows.

    With `params`, `stmt` comes from paged() and `params` binds its other parameters.
    """
    page, per_page = args["page"], args["per_page"]
    offset = (page - 1) * per_page
    # One row past the page tells whether anything follows it. When nothing does and the
    # page is not past the end, the total is known without a count: most lists a citizen
    # reads (their entries, redemptions, links, the catalogue) fit in one page.
    if params is None:
        result = db.session.execute(stmt.limit(per_page + 1).offset(offset))
    else:
        result = db.session.execute(stmt, {**params, _LIMIT.key: per_page + 1,
                                           _OFFSET.key: offset})
    items = result.scalars().all() if scalars else result.all()
    if len(items) > per_page:
        items = items[:per_page]
        total = None
    else:
        total = offset + len(items) if items or page == 1 else None
    if total is None:
        rows = stmt if params is None else stmt.limit(None).offset(None)
        total = db.session.scalar(select(func.count()).select_from(
            rows.order_by(None).subquery()), params)
    return {
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": (total + per_page - 1) // per_page,
    }
