#!/usr/bin/env bash
# Brings up the two services Switchyard needs — RabbitMQ and PostgreSQL — when they are installed
# but stopped, waits until they answer, and creates the `switchyard` database. Says how to
# install what is missing. Safe to run again: it only starts what is down.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

rabbitmq_up() { rabbitmq-diagnostics -q ping >/dev/null 2>&1; }
postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

wait_for() { # name, check-function, seconds
  local name=$1 check=$2 deadline=$((SECONDS + $3))
  until "$check"; do
    if (( SECONDS > deadline )); then log "$name did not come up in $3s; see its log"; exit 1; fi
    sleep 1
  done
  log "$name is up"
}

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  log "RabbitMQ is not installed. On Debian/Ubuntu: sudo apt-get install rabbitmq-server"
  log "or point SWITCHYARD_AMQP_URL at a running broker."
  exit 1
fi
if ! rabbitmq_up; then
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for RabbitMQ rabbitmq_up 90
else
  log "RabbitMQ is up"
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
  log "PostgreSQL is not installed. On Debian/Ubuntu: sudo apt-get install postgresql"
  log "or point SWITCHYARD_DATABASE_URL at a running server."
  exit 1
fi
if ! postgres_up; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_for PostgreSQL postgres_up 60
else
  log "PostgreSQL is up"
fi

# The main job's database (tests use `test`, which the machine provides).
if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='switchyard'" postgres | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE switchyard" postgres
  log "created database switchyard"
fi
