DROP TABLE pending_provider_statuses;
