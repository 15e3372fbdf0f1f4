-- Distributes a database upgraded to migration 0013 (`flask db upgrade`) on Citus 13.x,
-- PostgreSQL 16 or 17. Run it on the coordinator through ops/citus/distribute.sh, which
-- stops on the first error (psql ON_ERROR_STOP). docs/operations.md §2.5 explains the design.
--
-- Re-runnable: every step skips what is already done. A run that stopped half-way keeps
-- the foreign keys it dropped in citus_distribute.held_foreign_keys and adds them back on
-- the next run; the schema citus_distribute is dropped once everything checks out.
--
-- Each statement that changes a Citus table runs on its own, outside any transaction
-- block, and every ALTER TABLE carries one subcommand: Citus refuses ADD CONSTRAINT next
-- to other subcommands ("cannot execute ADD CONSTRAINT command with other subcommands").

\set QUIET on
\pset footer off
-- \gexec runs each generated statement; ECHO shows it, its empty result is not shown.
\o /dev/null

-- 1. The platform ----------------------------------------------------------------------
\echo '== 1. platform: PostgreSQL 16+, Citus 13+, nodes'

DO $$
BEGIN
  IF current_setting('server_version_num')::int < 160000 THEN
    RAISE EXCEPTION 'PostgreSQL % found; this procedure targets PostgreSQL 16 or 17',
      current_setting('server_version');
  END IF;
END $$;

-- Citus must already be in shared_preload_libraries; this only creates it in the database.
CREATE EXTENSION IF NOT EXISTS citus;

DO $$
DECLARE
  version text := (SELECT extversion FROM pg_extension WHERE extname = 'citus');
BEGIN
  IF split_part(version, '.', 1)::int < 13 THEN
    RAISE EXCEPTION 'Citus % found; this procedure targets Citus 13.x', version;
  END IF;
  -- Coordinator-local tables that refer to reference tables become Citus local tables,
  -- which needs the coordinator in the metadata.
  IF NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE groupid = 0) THEN
    RAISE EXCEPTION 'the coordinator is not in pg_dist_node'
      USING HINT = 'SELECT citus_set_coordinator_host(''<coordinator host>'', <port>);';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_dist_node
                 WHERE isactive AND shouldhaveshards AND noderole = 'primary') THEN
    RAISE EXCEPTION 'no active node takes shards'
      USING HINT = 'citus_add_node(...) for each worker, or on a single node: '
                   'SELECT citus_set_node_property(''<host>'', <port>, ''shouldhaveshards'', true);';
  END IF;
END $$;

-- 2. The plan: every table of the schema and its Citus kind ----------------------------
\echo '== 2. plan and schema checks'

SET client_min_messages TO warning;
CREATE SCHEMA IF NOT EXISTS citus_distribute;
DROP TABLE IF EXISTS citus_distribute.plan;
CREATE TABLE citus_distribute.plan (
  position int PRIMARY KEY,
  table_name text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('reference', 'distributed', 'local')),
  distribution_column text,
  colocate_with text
);
INSERT INTO citus_distribute.plan VALUES
  -- Replicated to every node: read by every request, written rarely.
  (10, 'users', 'reference', NULL, NULL),
  (11, 'user_roles', 'reference', NULL, NULL),
  (12, 'methodology_versions', 'reference', NULL, NULL),
  (13, 'conversion_rates', 'reference', NULL, NULL),
  (14, 'merchants', 'reference', NULL, NULL),
  (15, 'merchant_staff', 'reference', NULL, NULL),
  (16, 'rewards', 'reference', NULL, NULL),
  (17, 'partners', 'reference', NULL, NULL),
  (18, 'partner_keys', 'reference', NULL, NULL),
  (19, 'ledger_system_accounts', 'reference', NULL, NULL),
  -- Bumped with every change to versions or rates, read after each user's lock.
  (20, 'reference_generation', 'reference', NULL, NULL),
  -- One user's rows on one shard: ledger_accounts anchors the colocation group.
  (30, 'ledger_accounts', 'distributed', 'user_id', 'none'),
  (31, 'ledger_holds', 'distributed', 'user_id', 'ledger_accounts'),
  (32, 'ledger_transactions', 'distributed', 'user_id', 'ledger_accounts'),
  (33, 'ledger_postings', 'distributed', 'user_id', 'ledger_accounts'),
  (34, 'ledger_lots', 'distributed', 'user_id', 'ledger_accounts'),
  (35, 'ledger_hold_lots', 'distributed', 'user_id', 'ledger_accounts'),
  (36, 'behaviours', 'distributed', 'user_id', 'ledger_accounts'),
  (37, 'credit_totals', 'distributed', 'user_id', 'ledger_accounts'),
  (38, 'redemptions', 'distributed', 'user_id', 'ledger_accounts'),
  -- A merchant's code is all a verification has: the code routes to its owner.
  (40, 'redemption_codes', 'distributed', 'code', 'none'),
  -- Stay on the coordinator.
  (50, 'idempotency_keys', 'local', NULL, NULL),
  (51, 'audit_events', 'local', NULL, NULL),
  (52, 'job_runs', 'local', NULL, NULL),
  (53, 'apscheduler_jobs', 'local', NULL, NULL),
  (54, 'login_failures', 'local', NULL, NULL),
  (55, 'revoked_tokens', 'local', NULL, NULL),
  (56, 'partner_request_nonces', 'local', NULL, NULL),
  (57, 'partner_link_codes', 'local', NULL, NULL),
  (58, 'partner_links', 'local', NULL, NULL),
  (59, 'partner_batches', 'local', NULL, NULL),
  (60, 'reward_revisions', 'local', NULL, NULL),
  (61, 'alembic_version', 'local', NULL, NULL);

DO $$
DECLARE
  revision text;
  problems text[] := '{}';
  row record;
BEGIN
  SELECT version_num INTO revision FROM alembic_version;
  IF revision IS NULL OR revision < '0013' THEN
    RAISE EXCEPTION 'the schema is at revision %; run `flask db upgrade` (0013 or later) first',
      coalesce(revision, 'none');
  END IF;

  -- A table the plan does not name would be left behind silently.
  FOR row IN
    SELECT c.relname FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
      AND NOT c.relispartition
      AND c.relname NOT IN (SELECT table_name FROM citus_distribute.plan)
  LOOP
    problems := problems || format('table %s is not in the plan', row.relname);
  END LOOP;
  FOR row IN
    SELECT p.table_name FROM citus_distribute.plan p
    WHERE to_regclass(format('public.%I', p.table_name)) IS NULL
  LOOP
    problems := problems || format('table %s of the plan does not exist', row.table_name);
  END LOOP;

  -- Citus refuses a unique index (primary key, unique constraint or plain unique index)
  -- without the distribution column.
  FOR row IN
    SELECT p.table_name, i.indexrelid::regclass AS index_name, p.distribution_column
    FROM citus_distribute.plan p
    JOIN pg_index i ON i.indrelid = format('public.%I', p.table_name)::regclass
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = p.distribution_column
    WHERE p.kind = 'distributed' AND i.indisunique AND NOT a.attnum = ANY (i.indkey::int2[])
  LOOP
    problems := problems || format('unique index %s on %s does not include %s',
                                   row.index_name, row.table_name, row.distribution_column);
  END LOOP;

  -- A coordinator-local or reference table cannot refer to a distributed one.
  FOR row IN
    SELECT c.conrelid::regclass AS source, c.conname, c.confrelid::regclass AS target
    FROM pg_constraint c
    JOIN citus_distribute.plan s ON format('public.%I', s.table_name)::regclass = c.conrelid
    JOIN citus_distribute.plan t ON format('public.%I', t.table_name)::regclass = c.confrelid
    WHERE c.contype = 'f' AND s.kind <> 'distributed' AND t.kind = 'distributed'
  LOOP
    problems := problems || format('%s.%s refers to distributed %s', row.source, row.conname,
                                   row.target);
  END LOOP;

  -- Between distributed tables, a foreign key joins rows of one co-location group and
  -- pairs the distribution columns: anything else has no shard to be checked on.
  FOR row IN
    SELECT c.conrelid::regclass AS source, c.conname
    FROM pg_constraint c
    JOIN citus_distribute.plan s ON format('public.%I', s.table_name)::regclass = c.conrelid
    JOIN citus_distribute.plan t ON format('public.%I', t.table_name)::regclass = c.confrelid
    JOIN pg_attribute sa ON sa.attrelid = c.conrelid AND sa.attname = s.distribution_column
    JOIN pg_attribute ta ON ta.attrelid = c.confrelid AND ta.attname = t.distribution_column
    WHERE c.contype = 'f' AND s.kind = 'distributed' AND t.kind = 'distributed'
      AND (coalesce(nullif(s.colocate_with, 'none'), s.table_name)
             <> coalesce(nullif(t.colocate_with, 'none'), t.table_name)
           OR array_position(c.conkey, sa.attnum) IS NULL
           OR array_position(c.conkey, sa.attnum)
              IS DISTINCT FROM array_position(c.confkey, ta.attnum))
  LOOP
    problems := problems || format('%s.%s does not pair the distribution columns of one '
                                   'co-location group', row.source, row.conname);
  END LOOP;

  IF cardinality(problems) > 0 THEN
    RAISE EXCEPTION 'the schema does not fit the plan: %', array_to_string(problems, '; ');
  END IF;
END $$;

-- 3. Hold the foreign keys -------------------------------------------------------------
-- A table is distributed without its foreign keys, which are added back once every table
-- has its final kind: Citus then checks each against both ends' kinds, whatever the order
-- the tables were converted in. Only keys with an end not yet in Citus are held, so a
-- later run on a distributed database holds nothing.
\echo '== 3. hold the foreign keys'

CREATE TABLE IF NOT EXISTS citus_distribute.held_foreign_keys (
  table_name text NOT NULL,
  constraint_name text NOT NULL,
  referenced_table text NOT NULL,
  definition text NOT NULL,
  PRIMARY KEY (table_name, constraint_name)
);
RESET client_min_messages;
INSERT INTO citus_distribute.held_foreign_keys
SELECT c.conrelid::regclass::text, c.conname, c.confrelid::regclass::text,
       pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
  AND (NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.conrelid)
       OR NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.confrelid))
ON CONFLICT DO NOTHING;

SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', h.table_name, h.constraint_name)
FROM citus_distribute.held_foreign_keys h
WHERE EXISTS (SELECT 1 FROM pg_constraint c
              WHERE c.conrelid = h.table_name::regclass AND c.conname = h.constraint_name)
ORDER BY h.table_name, h.constraint_name
\set ECHO queries
\gexec
\set ECHO none

-- 4. Reference tables ------------------------------------------------------------------
-- The coordinator's own copy of the rows is emptied once they are on the shards.
\echo '== 4. reference tables'

SELECT format('SELECT create_reference_table(%L)', p.table_name),
       format('SELECT truncate_local_data_after_distributing_table(%L)', p.table_name)
FROM citus_distribute.plan p
WHERE p.kind = 'reference'
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d
                  WHERE d.logicalrelid = format('public.%I', p.table_name)::regclass)
ORDER BY p.position
\set ECHO queries
\gexec
\set ECHO none

-- 5. Distributed tables ----------------------------------------------------------------
-- ledger_transactions and ledger_postings carry the append-only row triggers. With
-- citus.enable_unsafe_triggers, create_distributed_table keeps a table's triggers and
-- creates them, with their function, on every shard; without it, it refuses the table.
-- The triggers' function only raises, touching no other row, so what makes a trigger
-- "unsafe" in a distributed transaction (reading or writing other shards) does not apply.
\echo '== 5. distributed tables'

SET citus.enable_unsafe_triggers TO on;

SELECT format('SELECT create_distributed_table(%L, %L, colocate_with => %L)',
              p.table_name, p.distribution_column, p.colocate_with),
       format('SELECT truncate_local_data_after_distributing_table(%L)', p.table_name)
FROM citus_distribute.plan p
WHERE p.kind = 'distributed'
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d
                  WHERE d.logicalrelid = format('public.%I', p.table_name)::regclass)
ORDER BY p.position
\set ECHO queries
\gexec
\set ECHO none

-- 6. Coordinator-local tables ----------------------------------------------------------
-- They stay plain PostgreSQL tables, except those with a foreign key into a reference
-- table: Citus allows that key only from a Citus local table (still on the coordinator,
-- known to the metadata).
\echo '== 6. coordinator-local tables that refer to reference tables'

SELECT format('SELECT citus_add_local_table_to_metadata(%L)', p.table_name)
FROM citus_distribute.plan p
WHERE p.kind = 'local'
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d
                  WHERE d.logicalrelid = format('public.%I', p.table_name)::regclass)
  AND EXISTS (SELECT 1 FROM citus_distribute.held_foreign_keys h
              JOIN citus_distribute.plan r ON r.table_name = h.referenced_table
              WHERE h.table_name = p.table_name AND r.kind = 'reference')
ORDER BY p.position
\set ECHO queries
\gexec
\set ECHO none

-- 7. The foreign keys back -------------------------------------------------------------
-- One ALTER TABLE per key; a key is forgotten only once it exists again.
\echo '== 7. add the foreign keys back'

SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_constraint c
                             WHERE c.conrelid = h.table_name::regclass
                               AND c.conname = h.constraint_name)
            THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', h.table_name,
                        h.constraint_name, h.definition)
       END,
       format('DELETE FROM citus_distribute.held_foreign_keys '
              'WHERE table_name = %L AND constraint_name = %L',
              h.table_name, h.constraint_name)
FROM citus_distribute.held_foreign_keys h
LEFT JOIN citus_distribute.plan r ON r.table_name = h.referenced_table
ORDER BY r.kind = 'distributed', h.table_name, h.constraint_name
\set ECHO queries
\gexec
\set ECHO none

-- 8. Checks ----------------------------------------------------------------------------
\echo '== 8. checks'

DO $$
DECLARE
  problems text[] := '{}';
  anchor int := (SELECT colocationid FROM pg_dist_partition
                 WHERE logicalrelid = 'public.ledger_accounts'::regclass);
  row record;
BEGIN
  FOR row IN
    SELECT p.table_name, p.kind, p.distribution_column, p.colocate_with, d.partmethod,
           d.repmodel, d.colocationid,
           CASE WHEN d.partmethod = 'h'
                THEN column_to_column_name(d.logicalrelid, d.partkey) END AS column_name
    FROM citus_distribute.plan p
    LEFT JOIN pg_dist_partition d
      ON d.logicalrelid = format('public.%I', p.table_name)::regclass
  LOOP
    IF row.kind = 'reference' AND (row.partmethod IS DISTINCT FROM 'n'
                                   OR row.repmodel IS DISTINCT FROM 't') THEN
      problems := problems || format('%s is not a reference table', row.table_name);
    ELSIF row.kind = 'distributed' AND (row.partmethod IS DISTINCT FROM 'h'
                                        OR row.column_name IS DISTINCT FROM row.distribution_column) THEN
      problems := problems || format('%s is not distributed by %s', row.table_name,
                                     row.distribution_column);
    ELSIF row.kind = 'distributed' AND row.colocate_with = 'ledger_accounts'
          AND row.colocationid IS DISTINCT FROM anchor THEN
      problems := problems || format('%s is not co-located with ledger_accounts', row.table_name);
    ELSIF row.kind = 'local' AND row.partmethod IS NOT NULL
          AND NOT (row.partmethod = 'n' AND row.repmodel = 's') THEN
      problems := problems || format('%s left the coordinator', row.table_name);
    END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_dist_partition
             WHERE logicalrelid = 'public.redemption_codes'::regclass
               AND colocationid = anchor) THEN
    problems := problems || 'redemption_codes shares the users'' colocation group'::text;
  END IF;
  FOR row IN SELECT table_name, constraint_name FROM citus_distribute.held_foreign_keys LOOP
    problems := problems || format('foreign key %s.%s is still held', row.table_name,
                                   row.constraint_name);
  END LOOP;
  IF cardinality(problems) > 0 THEN
    RAISE EXCEPTION 'distribution incomplete: %', array_to_string(problems, '; ');
  END IF;
END $$;

-- Every shard of the journal refuses UPDATE and DELETE. A shard created by a later move or
-- rebalance is checked by running this procedure again.
DO $$
DECLARE
  missing text;
BEGIN
  SELECT string_agg(format('shard %s of %s', r.shardid, r.table_name), ', ') INTO missing
  FROM (
    SELECT 'ledger_transactions' AS table_name, s.*
    FROM run_command_on_shards('ledger_transactions',
      $cmd$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND NOT tgisinternal
           AND tgenabled <> 'D' AND starts_with(tgname, 'ledger_transactions_append_only')$cmd$) s
    UNION ALL
    SELECT 'ledger_postings', s.*
    FROM run_command_on_shards('ledger_postings',
      $cmd$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND NOT tgisinternal
           AND tgenabled <> 'D' AND starts_with(tgname, 'ledger_postings_append_only')$cmd$) s
  ) r
  WHERE NOT r.success OR r.result <> '1';
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'the append-only trigger is missing on %', missing
      USING HINT = 'SET citus.enable_unsafe_triggers TO on; then drop and re-create the '
                   'trigger on the distributed table (Citus creates it on every shard)';
  END IF;
END $$;

SET client_min_messages TO warning;
DROP SCHEMA citus_distribute CASCADE;
RESET client_min_messages;
\o

\pset footer on
SELECT table_name, citus_table_type, distribution_column, colocation_id, shard_count
FROM citus_tables
ORDER BY citus_table_type, colocation_id, table_name::text;
