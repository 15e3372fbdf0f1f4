"""Baseline for the HTTP benchmarks: bare Flask + SQLAlchemy doing one ledger-style
transfer per request (debit one account if it can pay, credit another, log the transfer,
one commit). Run under gunicorn like the real app:

    BARE_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/scratch \\
        gunicorn -w 4 -b 127.0.0.1:8099 bench.bare_app:app
"""

from __future__ import annotations

import os
import random

from flask import Flask, jsonify
from sqlalchemy import create_engine, text

ACCOUNTS = 10_000

app = Flask(__name__)
engine = create_engine(os.environ["BARE_DATABASE_URL"], pool_size=2, pool_pre_ping=True)


def create_schema() -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bare_transfers, bare_accounts"))
        conn.execute(text("CREATE TABLE bare_accounts (id bigint PRIMARY KEY, "
                          "balance bigint NOT NULL CHECK (balance >= 0))"))
        conn.execute(text("CREATE TABLE bare_transfers (id bigserial PRIMARY KEY, "
                          "debit bigint NOT NULL, credit bigint NOT NULL, amount bigint NOT NULL, "
                          "at timestamptz NOT NULL DEFAULT now())"))
        conn.execute(text("INSERT INTO bare_accounts SELECT g, 1000000000 "
                          "FROM generate_series(1, :n) g"), {"n": ACCOUNTS})


@app.post("/transfer")
def transfer():
    debit, credit = random.sample(range(1, ACCOUNTS + 1), 2)
    with engine.begin() as conn:
        paid = conn.execute(text("UPDATE bare_accounts SET balance = balance - 1 "
                                 "WHERE id = :id AND balance >= 1"), {"id": debit}).rowcount
        if paid:
            conn.execute(text("UPDATE bare_accounts SET balance = balance + 1 WHERE id = :id"),
                         {"id": credit})
            conn.execute(text("INSERT INTO bare_transfers (debit, credit, amount) "
                              "VALUES (:d, :c, 1)"), {"d": debit, "c": credit})
    return jsonify(ok=bool(paid)), 201
