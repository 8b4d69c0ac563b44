#!/usr/bin/env bash
# Installs (from Debian's packages, when missing) and starts the services the server-database suite
# and the benchmarks expect, on loopback only:
#   PostgreSQL on 127.0.0.1:5432, trust auth for the role `postgres` from loopback;
#   Redis on 127.0.0.1:6379, no persistence;
#   Debian's Chromium at /usr/bin/chromium (browser tests);
#   Festival with its Russian voice and eSpeak NG (local speech).
# Idempotent: what is installed is not installed again, what runs is left running.
# Used by `make services` and by .ci/run. Needs root (apt-get, the postgres system user).
set -euo pipefail

PG_PORT=5432
REDIS_PORT=6379
APT_UPDATED=""

step() { printf '%s %s\n' "--" "$*"; }

apt_install() {
  local log
  log=$(mktemp)
  if [ -z "$APT_UPDATED" ]; then
    if ! apt-get update >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      echo "services: apt-get update failed" >&2
      exit 1
    fi
    APT_UPDATED=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "services: installing $* from Debian's packages failed" >&2
    exit 1
  fi
  rm -f "$log"
}

if [ "$(id -u)" -ne 0 ]; then
  echo "services: run as root (it installs Debian packages and starts PostgreSQL as its system user)" >&2
  exit 1
fi

# --- PostgreSQL --------------------------------------------------------------------------------
if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ]; then
  step "installing PostgreSQL"
  apt_install postgresql postgresql-contrib
fi
pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$pg_version main"; then
  step "creating PostgreSQL $pg_version cluster main"
  pg_createcluster "$pg_version" main >/dev/null
fi
conf_dir=/etc/postgresql/$pg_version/main
hba=$conf_dir/pg_hba.conf
marker="# newvoice: trust for postgres over loopback"
if ! grep -qF "$marker" "$hba"; then
  step "PostgreSQL: trust auth for postgres from loopback"
  # First matching line wins in pg_hba.conf: ours go on top.
  {
    echo "$marker"
    echo "host    all    postgres    127.0.0.1/32    trust"
    echo "host    all    postgres    ::1/128         trust"
    cat "$hba"
  } >"$hba.new"
  chown --reference="$hba" "$hba.new"
  chmod --reference="$hba" "$hba.new"
  mv "$hba.new" "$hba"
fi
# Debian's postgresql.conf reads conf.d/ last, so this file's settings win.
dropin=$conf_dir/conf.d/newvoice.conf
wanted=$(printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$PG_PORT")
restart=""
if [ ! -f "$dropin" ] || [ "$(cat "$dropin")" != "$wanted" ]; then
  mkdir -p "$conf_dir/conf.d"
  printf '%s\n' "$wanted" >"$dropin"
  chown postgres:postgres "$dropin"
  restart=1
fi
if pg_lsclusters -h | awk -v v="$pg_version" '$1==v && $2=="main" {print $4}' | grep -qx online; then
  if [ -n "$restart" ]; then
    step "PostgreSQL $pg_version running: restarting it on 127.0.0.1:$PG_PORT"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main restart
  else
    step "PostgreSQL $pg_version running: reloading its configuration"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
  fi
else
  step "starting PostgreSQL $pg_version on 127.0.0.1:$PG_PORT"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 1; done
pg_isready -h 127.0.0.1 -p "$PG_PORT"
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -tAc "select 'PostgreSQL ' || current_setting('server_version') || ': trust login as postgres works'"

# --- Redis -------------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  step "installing Redis"
  apt_install redis-server
fi
if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  step "Redis already answers on 127.0.0.1:$REDIS_PORT"
else
  step "starting Redis on 127.0.0.1:$REDIS_PORT (no persistence)"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/newvoice.log
fi
for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 1; done
echo "Redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'): $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping)"

# --- Chromium ----------------------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's Chromium"
  apt_install chromium
fi
/usr/bin/chromium --version 2>/dev/null

# --- Local voices --------------------------------------------------------------------------------
# Festival with its Russian voice and eSpeak NG: the "local" speech of skillbases (Piper, for
# English, comes from requirements-speech.txt: `make speech`).
voices=()
[ -x /usr/bin/text2wave ] || voices+=(festival)
[ -d /usr/share/festival/voices/russian ] || voices+=(festvox-ru)
[ -x /usr/bin/espeak-ng ] || voices+=(espeak-ng)
if [ "${#voices[@]}" -gt 0 ]; then
  step "installing Debian's ${voices[*]}"
  apt_install "${voices[@]}"
fi
echo "Local voices: festival ($(ls /usr/share/festival/voices/russian)), $(espeak-ng --version | head -c 40)"
