#!/usr/bin/env bash
# Distributes the app's database on a Citus coordinator, then checks the ledger.
#
#   ops/citus/distribute.sh postgresql://user@coordinator:5432/carbon
#   DATABASE_URL=postgresql+psycopg://… ops/citus/distribute.sh
#
# Run `flask db upgrade` (0013 or later) on the coordinator first, with the API and the
# scheduler stopped: create_distributed_table copies each table's rows and blocks writes
# to that table while it does. Safe to run again: done steps are skipped, and a run on a
# distributed database only re-checks it (do that after every shard move or rebalance).
#
# Environment: PSQL (default psql), FLASK (default: the flask next to this repository's
# .venv, else on PATH), SKIP_LEDGER_VERIFY=1 to leave out `flask ledger verify`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
url="${1:-${DATABASE_URL:-}}"
if [[ -z "$url" ]]; then
    echo "usage: $0 postgresql://user@coordinator:port/database (or set DATABASE_URL)" >&2
    exit 2
fi
# SQLAlchemy's driver suffix means nothing to libpq.
psql_url="${url/postgresql+psycopg:/postgresql:}"

"${PSQL:-psql}" "$psql_url" --no-psqlrc --set ON_ERROR_STOP=1 --file "$here/distribute.sql"

if [[ "${SKIP_LEDGER_VERIFY:-0}" == 1 ]]; then
    echo "ledger verify skipped (SKIP_LEDGER_VERIFY=1)"
    exit 0
fi
flask="${FLASK:-}"
if [[ -z "$flask" ]]; then
    if [[ -x "$root/.venv/bin/flask" ]]; then flask="$root/.venv/bin/flask"; else flask=flask; fi
fi
echo "== 9. flask ledger verify"
cd "$root"
DATABASE_URL="$url" "$flask" --app wsgi ledger verify
