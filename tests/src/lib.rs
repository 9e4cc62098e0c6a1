//! End-to-end tests across components: ingress, RabbitMQ, worker, sandbox, Postgres.
