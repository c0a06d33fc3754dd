-- Every KMS event has event_source 'kms.amazonaws.com' and read_only is 'true' or 'false':
-- those two indexes never narrow a lookup much, yet each costs every insert (docs/benchmarks.md,
-- suggestion 3). Lookups by them walk the time index, newest first, and stop at the page size.
DROP INDEX IF EXISTS trail_events_by_read_only;
DROP INDEX IF EXISTS trail_events_by_source;
