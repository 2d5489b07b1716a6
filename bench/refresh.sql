-- pgbench: refresh a session with its refresh token, keeping the new one for the
-- client's next refresh (pgbench -D rt=none: each client first signs in).
\set n random(1, 16777215)
select (case when ':rt' = 'none' then auth.sign_in_anonymously(ip => '10.100.0.0'::inet + :n)
             else auth.refresh_session(':rt') end)->>'refresh_token' as rt \gset
