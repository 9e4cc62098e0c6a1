DROP TABLE invalid_push_tokens;
