#!/usr/bin/env bash
# The main job: every Switchyard component plus the provider sandbox in one process, against
# local RabbitMQ and PostgreSQL (started if stopped). Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
# Webhook sources matching the embedded sandbox, so its Stripe and PayPal webhooks come back in.
export SWITCHYARD_WEBHOOKS="${SWITCHYARD_WEBHOOKS:-webhooks.example.toml}"
exec cargo run --quiet -p switchyard-cli --bin switchyard -- run all "$@"
