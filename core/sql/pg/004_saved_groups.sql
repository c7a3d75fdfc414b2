-- 004_saved_groups.sql — GrowthBook saved groups for $inGroup / $notInGroup
-- (and $savedGroup): an id, the values of the list, the attribute the list is
-- about (for $savedGroup), a description. nb_pg_assign_batch hands them to the
-- condition evaluator as {"id": {"type": "list", "attributeKey": …, "values": […]}}.
CREATE TABLE saved_groups (
	id text PRIMARY KEY CHECK (id <> ''),
	attribute_key text,
	"values" jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof("values") = 'array'),
	description text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
-- a definition table like metrics: changes carry the whole row
ALTER TABLE saved_groups REPLICA IDENTITY FULL;

-- changes to saved groups are audited like experiments and metrics
ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_check
	CHECK (entity IN ('experiment', 'metric', 'assignment', 'token', 'saved_group'));
