INSERT INTO firedrill_writes (id, writer, sent_at) VALUES (gen_random_uuid()::text, 'pgbench', now());
