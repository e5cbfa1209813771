#!/usr/bin/env bash
# Set up whatever is missing on this machine for chatd: system libraries, the virtual
# environment and its packages. With --services (for the tests), also Chromium for the
# browser tests and a running PostgreSQL server. Safe to run again: each step checks first
# and does nothing if done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_services=0
[ "${1:-}" = "--services" ] && want_services=1

say() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*"; return 1; fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || { say "no apt-get; install $* by hand"; return 1; }
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- system libraries ---------------------------------------------------------
if ! ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1'; then
  apt_install libmagic1 || apt_install libmagic1t64
fi

# --- Python -------------------------------------------------------------------
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY=$candidate; break
  fi
done
if [ -z "$PY" ]; then
  apt_install python3 python3-venv python3-dev
  PY=python3
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv || { apt_install python3-venv; rm -rf .venv; "$PY" -m venv .venv; }
fi

# Reinstall only when the declared dependencies change.
stamp=.venv/.chatd-deps
want=$(sha256sum setup.cfg | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Python packages"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,postgres,redis]'
  echo "$want" > "$stamp"
fi

# pydub finds ffmpeg by the plain name "ffmpeg" on PATH; imageio-ffmpeg ships the binary.
if [ ! -e .venv/bin/ffmpeg ]; then
  ln -sf "$(.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" .venv/bin/ffmpeg
fi

[ "$want_services" = 1 ] || exit 0

# --- what the tests use -----------------------------------------------------------
# Browser tests drive Debian's Chromium through Playwright (a browser cannot be downloaded here).
if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
# Colour emoji in the pages (and in the screenshots the browser tests take).
if ! fc-list 2>/dev/null | grep -qi 'color emoji'; then apt_install fonts-noto-color-emoji; fi
# tests/test_nginx.py runs config/nginx.conf in front of chatd; backups of PostgreSQL need
# pg_dump and pg_restore (the PostgreSQL server package brings them too).
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then apt_install nginx; fi
if ! command -v pg_dump >/dev/null; then apt_install postgresql-client; fi

# Redis for the bus between processes (tests use the one on 127.0.0.1:6379).
redis_ready() { command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_ready; then
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  say "starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_ready && break; sleep 0.2; done
  redis_ready || { say "Redis did not start"; exit 1; }
fi

pg_ready() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_ready; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -n1)
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_ready && break; sleep 0.5; done
  pg_ready || { say "PostgreSQL did not start"; exit 1; }
fi
# Tests connect as postgres to database "test" over TCP with trust auth, as on this machine kind.
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  say "preparing database test (trust auth on 127.0.0.1)"
  as_root su postgres -c "psql -Atc \"select 1 from pg_database where datname='test'\"" | grep -q 1 ||
    as_root su postgres -c "createdb test"
  hba=$(as_root su postgres -c "psql -Atc 'show hba_file'")
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    as_root su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
  fi
fi

# MariaDB for tests/test_import_original.py (the original server's MySQL tables): root over
# TCP on 127.0.0.1:3306 without a password, and a database "test", as on this machine kind.
maria_sql() { mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u root "$@"; }
maria_ready() { command -v mariadb >/dev/null && maria_sql -e 'select 1' >/dev/null 2>&1; }
maria_answers() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }
if ! maria_ready; then
  if ! maria_answers; then
    if [ ! -x /usr/sbin/mariadbd ]; then apt_install mariadb-server; fi
    # Without systemd (containers, CI) the package is installed but not started.
    if ! maria_answers; then
      say "starting MariaDB on 127.0.0.1:3306"
      as_root mkdir -p /run/mysqld /var/log/mysql
      as_root chown mysql:mysql /run/mysqld /var/log/mysql
      if [ ! -d /var/lib/mysql/mysql ]; then
        as_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
      fi
      as_root sh -c 'setsid /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql \
        --bind-address=127.0.0.1 --port=3306 --socket=/run/mysqld/mysqld.sock \
        --log-error=/var/log/mysql/error.log </dev/null >/dev/null 2>&1 &'
      for _ in $(seq 1 60); do maria_answers && break; sleep 0.5; done
      maria_answers || { say "MariaDB did not start"; exit 1; }
    fi
  fi
  # Debian's root logs in through the Unix socket only: let it in over TCP without a password.
  if ! maria_ready; then
    say "letting root into MariaDB over TCP on 127.0.0.1 without a password"
    as_root mariadb -u root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
      ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
      FLUSH PRIVILEGES;"
  fi
  maria_ready || { say "MariaDB: root cannot log in over TCP on 127.0.0.1"; exit 1; }
fi
if ! maria_sql -D test -e 'select 1' >/dev/null 2>&1; then
  say "creating MariaDB database test"
  maria_sql -e 'CREATE DATABASE IF NOT EXISTS test'
fi
