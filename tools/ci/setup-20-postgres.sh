# Sourced by tools/test.sh (helpers ci_apt, ci_on_exit; vars $WORK, $ROOT, $PYTHON).
# A real PostgreSQL 15 with pgvector for tests/tools (the database tool, docs/database.md):
# Debian's server, pgvector built from Debian's own source package (bookworm has no binary
# package for Postgres 15), a throwaway cluster on 127.0.0.1 run as the postgres user, with
# pg_stat_statements preloaded so the injection fuzzers can see every statement that reached it.
# Exports DATABASE_URL; fails loudly when anything does not work, so the tests never skip in CI.
# A developer who already has a server sets DATABASE_URL and only the checks run.

vani_pg_fail() {
  echo "setup-20-postgres: error: $*" >&2
  exit 1
}

vani_pg_build_pgvector() {
  # Debian's pgvector source package (the trixie one builds against Postgres 15), fetched with
  # a deb-src entry that reuses this machine's own Debian mirror, in a private apt state.
  local pg_config_bin=$1 w uri
  w=$(mktemp -d /tmp/vani-pgvector.XXXXXX) # outside $WORK (0700): apt's _apt user reads it
  chmod 755 "$w"
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || vani_pg_fail "no Debian mirror found in /etc/apt to fetch pgvector's source"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" \
    >"$w/src.list"
  mkdir -p "$w/lists/partial" "$w/cache/archives/partial"
  local o=(-o Dir::Etc::sourcelist="$w/src.list" -o Dir::Etc::sourceparts=-
    -o Dir::State::Lists="$w/lists" -o Dir::Cache="$w/cache")
  apt-get "${o[@]}" update -qq
  (cd "$w" && apt-get "${o[@]}" source --download-only -qq pgvector &&
    dpkg-source -x pgvector_*.dsc src >/dev/null)
  # OPTFLAGS="" drops -march=native: the library must run on any x86-64 machine.
  make -s -C "$w/src" PG_CONFIG="$pg_config_bin" OPTFLAGS="" -j"$(nproc)" >/dev/null
  make -s -C "$w/src" PG_CONFIG="$pg_config_bin" OPTFLAGS="" install >/dev/null
  rm -rf "$w"
}

vani_pg_setup() {
  local pg_config_bin=/usr/lib/postgresql/15/bin/pg_config
  if [ -z "${DATABASE_URL:-}" ]; then
    ci_apt postgresql postgresql-contrib postgresql-server-dev-15 build-essential dpkg-dev
    [ -x "$pg_config_bin" ] || pg_config_bin=$(command -v pg_config)
    local pgbin sharedir
    pgbin=$("$pg_config_bin" --bindir)
    sharedir=$("$pg_config_bin" --sharedir)
    # Built here, pgvector sits outside dpkg's knowledge: check the file, not the package.
    if [ ! -f "$sharedir/extension/vector.control" ]; then
      echo "building pgvector from Debian's source package"
      vani_pg_build_pgvector "$pg_config_bin"
    fi
    [ -f "$sharedir/extension/vector.control" ] || vani_pg_fail "pgvector did not install"

    local port
    port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Outside $WORK, which is private to root: the postgres user must reach its data directory.
    VANI_PG_DIR=$(mktemp -d /tmp/vani-pg.XXXXXX)
    ci_on_exit "rm -rf $VANI_PG_DIR"
    chmod 755 "$VANI_PG_DIR"
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres:postgres "$VANI_PG_DIR"
      as=(runuser -u postgres --) # Postgres refuses to run as root
    fi
    "${as[@]}" "$pgbin/initdb" -D "$VANI_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >/dev/null
    ci_on_exit "${as[*]} $pgbin/pg_ctl -D $VANI_PG_DIR/data -m immediate -w stop >/dev/null"
    local opts="-p $port -k $VANI_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200"
    opts+=" -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
    opts+=" -c pg_stat_statements.max=10000 -c fsync=off"
    if ! "${as[@]}" "$pgbin/pg_ctl" -D "$VANI_PG_DIR/data" -l "$VANI_PG_DIR/server.log" -w \
      -o "$opts" start >/dev/null; then
      cat "$VANI_PG_DIR/server.log" >&2 || true
      vani_pg_fail "the Postgres server did not start"
    fi
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  fi
  # The server answers, as a superuser, with both extensions the tests use.
  psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qAt \
    -c "CREATE EXTENSION IF NOT EXISTS vector" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
    -c "SELECT 'postgres ' || current_setting('server_version') || ', pgvector '
               || extversion FROM pg_extension WHERE extname = 'vector'" ||
    vani_pg_fail "cannot use the server at DATABASE_URL=$DATABASE_URL"
}

vani_pg_setup
