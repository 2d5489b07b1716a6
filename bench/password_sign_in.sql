-- pgbench: a password sign-in (argon2id verify, session, ES256 token) of one of 64 users.
\set n random(1, 64)
select auth.sign_in_with_password('bench' || :n || '@example.com', 'correct horse battery staple');
