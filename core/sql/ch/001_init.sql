-- 001_init.sql — NeonBlue's ClickHouse tables: the replicated PostgreSQL rows
-- (written by `neonblue sink`) and the sink's progress. See docs/sink.md.
-- Must run on ClickHouse 18.16 and current releases.
--
-- Every replicated table is a ReplacingMergeTree(_version) whose sort key is
-- the PostgreSQL primary key (plus what is derived from it), so a row sent
-- twice collapses into one: _version is the change's LSN, _deleted = 1 marks
-- a delete. Exact answers: SELECT … FROM neonblue.t FINAL WHERE _deleted = 0.
-- Timestamps: DateTime (UTC seconds) plus <column>_us, the microseconds
-- within that second.

CREATE TABLE IF NOT EXISTS neonblue.events (
	event_id UUID,
	user_id String,
	type String,
	ts DateTime,
	ts_us UInt32,
	value Nullable(Float64),
	properties Nullable(String),
	experiment Nullable(String),
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, event_id);

CREATE TABLE IF NOT EXISTS neonblue.assignments (
	experiment String,
	user_id String,
	variant String,
	assigned_at DateTime,
	assigned_at_us UInt32,
	source String,
	experiment_version Int32,
	context Nullable(String),
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY (experiment, user_id);

CREATE TABLE IF NOT EXISTS neonblue.experiments (
	key String,
	name String,
	description String,
	hypothesis String,
	status String,
	seed String,
	hash_version Int16,
	coverage Float64,
	namespace_id Nullable(String),
	namespace_start Nullable(Float64),
	namespace_end Nullable(Float64),
	condition Nullable(String),
	owner String,
	created_at DateTime,
	created_at_us UInt32,
	updated_at DateTime,
	updated_at_us UInt32,
	started_at Nullable(DateTime),
	started_at_us UInt32,
	stopped_at Nullable(DateTime),
	stopped_at_us UInt32,
	version Int32,
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY key;

CREATE TABLE IF NOT EXISTS neonblue.variants (
	experiment String,
	key String,
	name String,
	weight Float64,
	is_control UInt8,
	config String,
	position Int32,
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY (experiment, key);

CREATE TABLE IF NOT EXISTS neonblue.metrics (
	key String,
	name String,
	kind String,
	event_types Array(String),
	value_property Nullable(String),
	direction String,
	winsorize Nullable(Float64),
	description String,
	created_at DateTime,
	created_at_us UInt32,
	updated_at DateTime,
	updated_at_us UInt32,
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY key;

CREATE TABLE IF NOT EXISTS neonblue.experiment_metrics (
	experiment String,
	metric String,
	role String,
	position Int32,
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY (experiment, metric);

CREATE TABLE IF NOT EXISTS neonblue.audit_log (
	id Int64,
	at DateTime,
	at_us UInt32,
	actor String,
	action String,
	entity String,
	key String,
	before Nullable(String),
	after Nullable(String),
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY id;

-- The sink's progress: one row per Kafka partition it committed, replaced on
-- every batch (latest `seq` wins). `next_offset` is the first offset not yet
-- in ClickHouse, `lsn` the highest source LSN among the rows it committed.
-- Read it with: SELECT … FROM neonblue.cdc_progress FINAL.
CREATE TABLE IF NOT EXISTS neonblue.cdc_progress (
	topic String,
	partition UInt32,
	source_table String,
	next_offset Int64,
	lsn UInt64,
	updated_at DateTime,
	seq UInt64
) ENGINE = ReplacingMergeTree(seq)
ORDER BY (topic, partition);
