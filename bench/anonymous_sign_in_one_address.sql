-- pgbench: anonymous sign-ins all from the connection's one address (one counter row).
select auth.sign_in_anonymously();
