"""make bench: 50 clients check correct sign-in codes at the same moment, each from its own
connection and address; prints the p50 and p99 latency in ms over all rounds but the
first, which warms the 50 new backends up (as a pool's connections are).
   concurrent_codes.py CONNINFO ROUNDS"""
import sys
import threading
import time

import psycopg

CLIENTS = 50
conninfo, rounds = sys.argv[1], int(sys.argv[2])
connections = [psycopg.connect(conninfo, autocommit=True) for _ in range(CLIENTS)]
admin = connections[0]
latencies = []

for r in range(rounds + 1):
    emails = [f"codes-{r}-{i}@example.com" for i in range(CLIENTS)]
    for email in emails:
        admin.execute("select auth.sign_in_with_otp(%s)", (email,))
    codes = dict(admin.execute(
        "select recipient, payload->>'email_otp' from auth.outbox where recipient = any(%s)", (emails,)).fetchall())
    start = threading.Barrier(CLIENTS)
    results = [None] * CLIENTS

    def check(i):
        conn = connections[i]
        # A superuser may say where it stands (the bench database trusts x-forwarded-for).
        conn.execute("select set_config('request.headers', %s, false)",
                     (f'{{"x-forwarded-for": "10.50.{r % 250}.{i + 1}"}}',))
        start.wait()
        began = time.perf_counter()
        row = conn.execute("select auth.verify_otp(%s, %s, 'email')->>'token_type'", (emails[i], codes[emails[i]])).fetchone()
        results[i] = (time.perf_counter() - began, row[0])

    threads = [threading.Thread(target=check, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if any(kind != "bearer" for _, kind in results):
        sys.exit(f"round {r}: not every correct code signed in: {results}")
    if r > 0:
        latencies += [seconds * 1000 for seconds, _ in results]

latencies.sort()
print(f"{latencies[len(latencies) // 2]:.1f} {latencies[int(len(latencies) * 0.99) - 1]:.1f}")
