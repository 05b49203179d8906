#!/usr/bin/env bash
# Installs the system programs interop-bench needs, from Debian's packages, when missing.
# Run as root (`make setup` calls it); as another user it prints the command to run instead.
set -euo pipefail

# program-to-look-for  debian-package(s)
needs=(
  "redis-server redis-server"
  "erl erlang-nox erlang-dev erlang-eunit"
  "rebar3 rebar3"
  "java openjdk-17-jdk-headless"
  "javac openjdk-17-jdk-headless"
  "mvn maven"
  "taskset util-linux"
  "wrk wrk"
  "ab apache2-utils"
  "curl curl"
  "chromium chromium"
)
# Erlang libraries are not programs: look for their folders.
libs=(
  "/usr/lib/erlang/lib/jiffy-* erlang-jiffy"
  "/usr/lib/erlang/lib/eredis-* erlang-redis-client"
  "/usr/lib/erlang/lib/mochiweb* erlang-mochiweb"
  "/usr/lib/yaws* erlang-yaws"
)

missing=()
for entry in "${needs[@]}"; do
  read -r prog pkgs <<<"$entry"
  command -v "$prog" >/dev/null 2>&1 || missing+=($pkgs)
done
for entry in "${libs[@]}"; do
  read -r pattern pkgs <<<"$entry"
  compgen -G "$pattern" >/dev/null || missing+=($pkgs)
done
# Unique, order kept.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

echo "system packages missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "error: not running as root, so they cannot be installed here. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "system packages: installed ${missing[*]}"
