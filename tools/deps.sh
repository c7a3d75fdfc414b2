#!/usr/bin/env bash
# deps.sh — install the Debian packages NeonBlue needs, only those missing.
set -eu
# clang + libclang-rt-14-dev (libFuzzer and the sanitizer runtimes, only recommended
# by clang): make fuzz and the fuzz suite of make test. wrk: make bench (bench/bench_serve.sh).
# zookeeperd: the ZooKeeper of `stack up --clickhouse-shards/--clickhouse-replicas`
# (the stack runs its own instance; the package's service is not used).
pkgs=(gcc make pkg-config libncurses-dev libcurl4-openssl-dev librdkafka-dev libpq-dev
      libcjson-dev libgsl-dev postgresql postgresql-contrib clickhouse-server clickhouse-client
      kcat tmux python3 python3-scipy python3-statsmodels python3-mpmath docker-compose valgrind
      curl procps libssl-dev libmicrohttpd-dev libpcre2-dev nodejs npm clang libclang-rt-14-dev
      wrk zookeeperd)
missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
# nodejs from another repository (e.g. NodeSource's, which bundles npm) also counts
if command -v node >/dev/null && command -v npm >/dev/null; then
	keep=()
	for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || keep+=("$p"); done
	missing=("${keep[@]}")
fi
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
else
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The official GrowthBook SDK for tests/cli/sdk_diff.sh and serve.sh, and the
# EventSource client its streaming needs under Node.js (serve_sse.sh), pinned
# by tests/sdk/package.json and package-lock.json; installed again only when
# an installed version is not the pinned one.
sdk=$(cd "$(dirname "$0")/../tests/sdk" && pwd)
stale=
while IFS=$'\t' read -r name want; do
	have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
		"$sdk/node_modules/$name/package.json" 2>/dev/null | head -n 1)
	[ "$have" = "$want" ] || stale="$stale $name@$want"
done < <(sed -n 's/^ *"\([@a-z][^"]*\)": *"\([0-9][^"]*\)",\{0,1\}$/\1\t\2/p' "$sdk/package.json")
if [ -z "$stale" ]; then
	echo "deps: GrowthBook SDK and eventsource present"
else
	echo "deps: installing$stale into $sdk/node_modules"
	(cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
fi
