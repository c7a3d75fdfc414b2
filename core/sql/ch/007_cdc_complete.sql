-- 007_cdc_complete.sql — how complete ClickHouse is: "complete up to T"
-- (docs/sink.md, "Complete up to"; docs/report.md). Must run on ClickHouse
-- 18.16 and current releases.
--
-- The relay sends a heartbeat to __debezium-heartbeat.<prefix> after every
-- transaction Kafka acknowledged (at most twice a second; every 5 s when
-- nothing changes): source.lsn and source.ts_ms of the newest commit whose
-- messages, and those of every commit before it, Kafka holds. The sink that
-- reads a heartbeat asks Kafka for the high watermark of every partition of
-- the prefix's topics (those offsets cover the commit's messages), and once
-- neonblue.cdc_progress shows every one of those offsets in ClickHouse it
-- inserts one row here. Reports read max(source_ts_ms): every change of a
-- commit at or before it (in commit order, the LSN) is in ClickHouse.
--
-- One key (id = 0) and the commit time as version: merges keep the newest
-- row; readers take max() and need no FINAL.
CREATE TABLE IF NOT EXISTS neonblue.cdc_complete (
	id UInt8,
	lsn UInt64,
	source_ts_ms UInt64,
	recorded_at DateTime
) ENGINE = ReplacingMergeTree(source_ts_ms)
ORDER BY id;
