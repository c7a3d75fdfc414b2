-- 002_rollup.sql — the incrementally maintained per-user rollup that makes
-- `neonblue report` fast (docs/analytics.md, "The rollup"). Must run on
-- ClickHouse 18.16 and current releases.
--
-- events_by_user: the events again, sorted by user (filled by a materialized
-- view on every insert into events), so one user's events are an index read.
-- touched: which users' events or assignments arrived when (ingest time,
-- second resolution) — the rollup recomputes exactly those users.
-- rollup_base: one row per (generation, experiment, user): the per-user sums
-- of each (event type, value source) slot after the assignment cut, written
-- once by a full build or a compaction. rollup_delta: the users recomputed
-- since (latest `built` wins; _deleted = 1 hides a user whose assignment was
-- deleted). `built`: when the row was computed (ClickHouse's clock, ns). rollup_state: per experiment the current generation, the ingest
-- time up to which every change is in the rollup, and the slots.

CREATE TABLE IF NOT EXISTS neonblue.events_by_user (
	user_id String,
	ts DateTime,
	ts_us UInt32,
	event_id UUID,
	type String,
	value Nullable(Float64),
	properties Nullable(String),
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY (user_id, ts, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS neonblue.events_by_user_mv TO neonblue.events_by_user
AS SELECT user_id, ts, ts_us, event_id, type, value, properties, _version, _deleted
FROM neonblue.events;

INSERT INTO neonblue.events_by_user
SELECT user_id, ts, ts_us, event_id, type, value, properties, _version, _deleted
FROM neonblue.events;

CREATE TABLE IF NOT EXISTS neonblue.touched (
	at DateTime,
	user_id String
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(at)
ORDER BY (at, user_id);

-- ClickHouse writes an insert's block to the table, then to its views in
-- name order: events_by_user_mv before touched_events_mv, so the stamp is
-- taken after the rows are visible (the rollup keeps a margin anyway).
CREATE MATERIALIZED VIEW IF NOT EXISTS neonblue.touched_events_mv TO neonblue.touched
AS SELECT now() AS at, user_id FROM neonblue.events;

CREATE MATERIALIZED VIEW IF NOT EXISTS neonblue.touched_assignments_mv TO neonblue.touched
AS SELECT now() AS at, user_id FROM neonblue.assignments;

CREATE TABLE IF NOT EXISTS neonblue.rollup_base (
	gen UInt64,
	experiment String,
	user_id String,
	variant String,
	context Nullable(String),
	n Array(UInt64),
	vsum Array(Float64),
	vcnt Array(UInt64),
	v1sum Array(Float64),
	built UInt64
) ENGINE = MergeTree()
PARTITION BY gen
ORDER BY (experiment, user_id);

CREATE TABLE IF NOT EXISTS neonblue.rollup_delta (
	gen UInt64,
	experiment String,
	user_id String,
	variant String,
	context Nullable(String),
	n Array(UInt64),
	vsum Array(Float64),
	vcnt Array(UInt64),
	v1sum Array(Float64),
	built UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(built)
PARTITION BY gen
ORDER BY (experiment, user_id);

CREATE TABLE IF NOT EXISTS neonblue.rollup_state (
	experiment String,
	gen UInt64,
	watermark DateTime,
	types Array(String),
	props Array(String),
	base_rows UInt64,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY experiment;
