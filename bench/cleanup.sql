-- make bench: deletes every anonymous user idle for more than 30 days, batch by batch.
call auth.cleanup_anonymous_users('30 days', 1000);
