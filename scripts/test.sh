#!/usr/bin/env bash
# Install the test dependencies, start what the tests need (a private PostgreSQL cluster), run every test.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
export UV_PYTHON_DOWNLOADS=never

# PostgreSQL: install from Debian when missing, then run a throwaway cluster on a free loopback port.
find_pg_bin() {
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}
PG_BIN="$(find_pg_bin || true)"
if [ -z "$PG_BIN" ]; then
  echo "installing PostgreSQL (apt-get)..." >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  PG_BIN="$(find_pg_bin)"
fi
# Chromium for the studio's browser tests (tests/browser), from Debian when missing.
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Chromium (apt-get)..." >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
PG_DIR="$(mktemp -d /tmp/veokit-pg.XXXXXX)"
PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
AS_PG=()
if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; AS_PG=(runuser -u postgres --); fi
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust >/dev/null
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=200" start >/dev/null
trap '"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PG_DIR"' EXIT
"${AS_PG[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres veokit_test
export VEOKIT_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/veokit_test"

uv sync --frozen --group dev --quiet
# Lint, formatting and types are part of the test command: a red check fails CI like a red test.
if [ "${SKIP_CHECKS:-0}" != 1 ]; then
  uv run --frozen --no-sync ruff check src tests bench
  uv run --frozen --no-sync ruff format --check src tests bench
  uv run --frozen --no-sync mypy
fi
# Tests must not pick up the developer's own configuration or credentials.
unset VEOKIT_PROVIDER VEOKIT_DATABASE_URL GEMINI_API_KEY GOOGLE_API_KEY GOOGLE_APPLICATION_CREDENTIALS || true
export VEOKIT_CONFIG=/nonexistent/veokit.toml
set +e
# Test files run in parallel processes (pytest-xdist, one file per process at a time so module fixtures are
# shared): most tests wait on emulated latencies and subprocesses, so 3 processes fill 2 cores. VEOKIT_TEST_WORKERS=0
# runs everything in one process. The 20 slowest tests are listed at the end: where the CI budget goes.
uv run --frozen --no-sync pytest -n "${VEOKIT_TEST_WORKERS:-3}" --dist loadfile --durations=20 "$@"
status=$?
set -e
# pytest exits 5 when it collected no tests: for us that is a failure, never a pass.
if [ "$status" = 5 ]; then echo "no tests were collected: failing" >&2; exit 1; fi
exit "$status"
