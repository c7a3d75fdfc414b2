# compose.sh — docker-compose.yml is valid, binds only loopback, and the
# Debezium connector config is valid JSON naming the NeonBlue tables.
source "$NB_ROOT/tests/lib/t.sh"
cd "$NB_ROOT"

t_run compose_config_valid 0 docker-compose -f docker-compose.yml config -q
out=$(docker-compose -f docker-compose.yml config 2>/dev/null)
# every published port is bound to 127.0.0.1
bad=$(echo "$out" | grep -E '^\s+- (published|"?[0-9]+:[0-9]+)' | grep -v 127.0.0.1 || true)
pub=$(echo "$out" | grep -cE 'host_ip: 127.0.0.1|127\.0\.0\.1:[0-9]+:[0-9]+')
t_eq compose_ports_loopback_only "$bad" ""
t_match compose_has_published_ports "$pub" '^[1-9]'
t_run connector_json_valid 0 python3 -c '
import json,sys
c=json.load(open("deploy/debezium-connector.json"))
assert c["plugin.name"]=="pgoutput" and c["topic.prefix"]=="neonblue", c
assert "public.events" in c["table.include.list"]'
t_done
