#!/usr/bin/env bash
# deps.sh — install the Debian packages NeonBlue needs, only those missing.
set -eu
# clang + libclang-rt-14-dev (libFuzzer and the sanitizer runtimes, only recommended
# by clang): make fuzz and the fuzz suite of make test.
pkgs=(gcc make pkg-config libncurses-dev libcurl4-openssl-dev librdkafka-dev libpq-dev
      libcjson-dev libgsl-dev postgresql postgresql-contrib clickhouse-server clickhouse-client
      kcat tmux python3 python3-scipy python3-statsmodels python3-mpmath docker-compose valgrind
      curl procps clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
