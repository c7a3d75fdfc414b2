-- 008_flags.sql — feature flags as CDC delivers them (PostgreSQL 006,
-- docs/flags.md): one row per flag, its rules as the JSON text PostgreSQL
-- stores; read with FINAL WHERE _deleted = 0 like every table.
CREATE TABLE IF NOT EXISTS neonblue.flags (
	key String,
	type String,
	description String,
	default_value String,
	enabled UInt8,
	rules String,
	version Int32,
	created_at DateTime,
	created_at_us UInt32,
	updated_at DateTime,
	updated_at_us UInt32,
	_version UInt64,
	_deleted UInt8
) ENGINE = ReplacingMergeTree(_version)
ORDER BY key;
