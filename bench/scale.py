"""bench/run scale: what the customer area costs as its database grows (issue 19).

For each size in BENCH_SCALE (default 1000,100000,1000000) this seeds a fresh database and
measures, in the same run on this machine:

- seeding: `customers import` of that many rows (two lists each), then the side data through
  the documented bulk path below (every customer active with a real 600,000-iteration
  password hash, three live sessions, two sent emails, five activity events);
- `serve`: the time from starting the process to its first answer;
- `GET /customers/self` (64 connections) and `PATCH /customers/self` (16 connections) over
  20,000 customers chosen at random (all of them when there are fewer), throughput and p99;
- login (8 connections), `customers import` of 10,000 more rows while the server serves,
  `backup` while the server serves, the admin search (`GET /admin/customers?search=`, over
  HTTP, and `customers list --search` as a command), the console's lookups (by part of an
  email, identifier or name, and by id) and its overview (`GET /admin/stats`), `migrate` with
  nothing to apply;
- the server's peak memory (VmHWM) and the database bytes per customer;
- at the largest size: GET and PATCH again under each of SQLite's page-cache and memory-map
  settings in BENCH_DB_VARIANTS (`cache_kib:mmap_mib` pairs, default
  `2000:0,16384:0,2000:4096`: the default, a 16 MiB cache per connection, the file mapped),
  each with the server's peak memory and how much of it is the mapped file (RssFile), the
  server restarted for each on the same database;
- at the largest size: a sweep of 1,000,000 expired sessions by the server's housekeeping,
  with the longest write transaction (`customer_area_db_longest_write_seconds`).

The table goes to bench/results/<date>-scale.md, the plot to docs/scale.png (matplotlib,
installed into bench/.venv by bench/run). Run through `bench/run scale`, which builds first.

The bulk path: the server's own import creates the customers (so ids, search rows, consents
and subscriptions are exactly what the product writes); the side data has no command of its
own and is written with SQL into the stopped database, in the product's schema, with tokens
whose SHA-256 is stored as the server stores a session's.
"""

import base64
import hashlib
import json
import os
import random
import re
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CA = ROOT / "target" / "release" / "customer-area"
ADDR = "127.0.0.1:18080"
PASSWORD = "correct horse battery staple"
ADMIN_TOKEN = "bench-admin-token-" + secrets.token_hex(16)
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
SIZES = [int(s) for s in os.environ.get("BENCH_SCALE", "1000,100000,1000000").split(",")]
SAMPLE = 20_000
SWEEP_ROWS = int(os.environ.get("BENCH_SWEEP_ROWS", "1000000"))
VARIANTS = [tuple(int(n) for n in pair.split(":"))
            for pair in os.environ.get("BENCH_DB_VARIANTS", "2000:0,16384:0,2000:4096").split(",")
            if pair]


def say(text):
    print(f"\n== {text}", file=sys.stderr, flush=True)


def env_for(work):
    env = dict(os.environ)
    env.update(
        CUSTOMER_AREA_SERVER_BIND=ADDR,
        CUSTOMER_AREA_DATABASE_PATH=str(work / "customer-area.db"),
        CUSTOMER_AREA_MAIL_DIR=str(work / "outbox"),
        CUSTOMER_AREA_LINKS_RETAILER_URL=f"http://{ADDR}",
        CUSTOMER_AREA_ADMIN_API_TOKEN=ADMIN_TOKEN,
        CUSTOMER_AREA_LIMITS_LOGIN_PER_IP_PER_MINUTE="100000000",
        CUSTOMER_AREA_LIMITS_CODES_PER_IP_PER_MINUTE="100000000",
        CUSTOMER_AREA_LIMITS_LOGIN_FREE_FAILURES="100000000",
    )
    return env


def run(env, *args, check=True):
    started = time.monotonic()
    done = subprocess.run([str(CA), *args], env=env, cwd=env["BENCH_WORK"],
                          capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"customer-area {' '.join(args)} failed:\n{done.stderr}")
    return time.monotonic() - started, done


def customers_csv(path, first, count):
    with open(path, "w") as f:
        f.write("email,name,identifier,phone,country,subscriptions\n")
        for i in range(first, first + count):
            f.write(f"c{i}@example.com,Customer {i},c-{i},+44 20 7946 {i % 10000:04d},GB,"
                    "news;offers\n")


def token_of(i, k):
    """The bearer token of session k of customer i: 43 URL-safe characters, as the server's."""
    digest = hashlib.sha256(f"bench-session-{i}-{k}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def phc(password):
    salt = secrets.token_bytes(16)
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 600_000, 32)
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
    return f"$pbkdf2-sha256$i=600000,l=32${b64(salt)}${b64(key)}"


def seed_side_data(db, count):
    """Every customer active with a real password hash, three sessions, two sent emails and
    five activity events, written into the stopped database."""
    now = int(time.time())
    conn = sqlite3.connect(db)
    conn.create_function("token_hash", 2, lambda i, k: hashlib.sha256(
        token_of(i, k).encode()).digest(), deterministic=True)
    conn.create_function("public_id", 0, lambda: secrets.token_hex(8))
    number = "CAST(substr(email, 2, instr(email, '@') - 2) AS INTEGER)"
    with conn:
        conn.execute("UPDATE customers SET status = 'active', password_hash = ?, "
                     "activated_at = ?, last_login_at = ?", (phc(PASSWORD), now, now))
        conn.execute(f"""
            INSERT INTO sessions (token_hash, customer_id, created_at, expires_at, public_id,
                                  last_used_at, ip, user_agent)
            SELECT token_hash({number}, k.value), id, ?1 - k.value * 3600, ?1 + 30 * 86400,
                   public_id(), ?1 - k.value * 3600, '203.0.113.7', 'Mozilla/5.0 (bench)'
            FROM customers, (SELECT 1 AS value UNION ALL SELECT 2 UNION ALL SELECT 3) AS k""",
                     (now,))
        conn.execute("""
            INSERT INTO outbox (kind, recipient, message_id, raw, status, attempts,
                                next_attempt_at, created_at, sent_at)
            SELECT CASE k.value WHEN 1 THEN 'activation' ELSE 'password_reset' END, email,
                   '<bench-' || id || '-' || k.value || '@example.com>', NULL, 'sent', 1,
                   ?1, ?1 - k.value * 86400, ?1 - k.value * 86400
            FROM customers, (SELECT 1 AS value UNION ALL SELECT 2) AS k""", (now,))
        conn.execute("""
            INSERT INTO activity (customer_id, kind, at, ip, user_agent, method)
            SELECT id, CASE WHEN k.value = 1 THEN 'account_activated' ELSE 'login_succeeded' END,
                   ?1 - k.value * 86400, '203.0.113.7', 'Mozilla/5.0 (bench)',
                   CASE WHEN k.value = 1 THEN NULL ELSE 'password' END
            FROM customers, (SELECT 1 AS value UNION ALL SELECT 2 UNION ALL SELECT 3
                             UNION ALL SELECT 4 UNION ALL SELECT 5) AS k""", (now,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def expire_sessions(db, rows):
    """`rows` sessions that expired a day ago, for housekeeping to sweep."""
    conn = sqlite3.connect(db)
    first = conn.execute("SELECT id FROM customers LIMIT 1").fetchone()[0]
    then = int(time.time()) - 86400
    with conn:
        conn.execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
            INSERT INTO sessions (token_hash, customer_id, created_at, expires_at, public_id,
                                  last_used_at)
            SELECT randomblob(32), ?2, ?3 - 3600, ?3, lower(hex(randomblob(8))), ?3 - 3600
            FROM n""", (rows, first, then))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def get(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


class Server:
    def __init__(self, env, log):
        self.started = time.monotonic()
        self.process = subprocess.Popen([str(CA), "serve"], env=env, cwd=env["BENCH_WORK"],
                                        stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        self.first_answer = None
        while time.monotonic() - self.started < 60:
            try:
                get(f"http://{ADDR}/healthz")
                self.first_answer = time.monotonic() - self.started
                return
            except OSError:
                time.sleep(0.005)
        sys.exit(f"the server did not answer within 60 s (log: {log})")

    def cpu_ticks(self):
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def peak_kib(self):
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))

    def memory_kib(self):
        """The peak resident memory, and the part of the resident memory now that is mapped
        files (the SQLite file, when it is mapped; the binary itself)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        field = lambda name: int(re.search(rf"{name}:\s+(\d+)", status).group(1))
        return field("VmHWM"), field("RssFile")

    def metric(self, name):
        text = get(f"http://{ADDR}/metrics", ADMIN_TOKEN)
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(match.group(1)) if match else None

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def wrk(targets, connections, seconds=SECONDS, **lua):
    env = dict(os.environ, BENCH_TARGETS=str(targets), **lua)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                          "-s", str(BENCH / "requests.lua"), f"http://{ADDR}"],
                         env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    result = dict(kv.split("=") for kv in line.split()[1:])
    ok, seconds_ = float(result["ok"]), float(result["seconds"])
    return {"rps": ok / seconds_, "p99_ms": float(result["p99_ms"]),
            "non2xx": int(result["non2xx"]), "errors": int(result["socket_errors"])}


def measure(size, work, largest):
    env = env_for(work)
    env["BENCH_WORK"] = str(work)
    db = work / "customer-area.db"
    figures = {"customers": size}
    say(f"{size:,} customers: seeding")
    run(env, "migrate")
    run(env, "subscriptions", "add", "news", "--name", "News")
    run(env, "subscriptions", "add", "offers", "--name", "Offers")
    customers_csv(work / "seed.csv", 0, size)
    seconds, done = run(env, "customers", "import", "seed.csv")
    figures["seed_import_s"] = seconds
    started = time.monotonic()
    seed_side_data(db, size)
    figures["side_data_s"] = time.monotonic() - started
    print(f"   import {seconds:.1f} s, side data {figures['side_data_s']:.1f} s", file=sys.stderr)

    sample = random.sample(range(size), min(size, SAMPLE))
    (work / "self.targets").write_text(
        "".join(f"/customers/self {token_of(i, 1 + i % 3)}\n" for i in sample))
    logins = sample[:64]
    (work / "login.targets").write_text("".join("/customers/login -\n" for _ in logins))
    (work / "login.bodies").write_text("".join(
        json.dumps({"email": f"c{i}@example.com", "password": PASSWORD}) + "\n" for i in logins))

    server = Server(env, work / "server.log")
    figures["first_answer_ms"] = server.first_answer * 1000
    say(f"{size:,} customers: GET and PATCH over {len(sample):,} random customers")
    wrk(work / "self.targets", 16, seconds=2)  # warm-up
    ticks = server.cpu_ticks()
    figures["get"] = wrk(work / "self.targets", 64)
    figures["patch"] = wrk(work / "self.targets", 16, BENCH_METHOD="PATCH",
                           BENCH_BODY='{"phone":"+44 20 %N","address_town":"Town %I"}')
    figures["login"] = wrk(work / "login.targets", 8, BENCH_METHOD="POST",
                           BENCH_BODIES=str(work / "login.bodies"))
    figures["server_cpu_s"] = (server.cpu_ticks() - ticks) / os.sysconf("SC_CLK_TCK")

    say(f"{size:,} customers: import of 10,000 more rows, backup, search, while serving")
    customers_csv(work / "more.csv", size, 10_000)
    figures["import_10k_s"], _ = run(env, "customers", "import", "more.csv")
    figures["backup_s"] = backup_while_serving(env, work)
    needle = f"c-{sample[0]}"
    started = time.monotonic()
    found = json.loads(get(f"http://{ADDR}/admin/customers?search={needle}", ADMIN_TOKEN))
    figures["admin_search_ms"] = (time.monotonic() - started) * 1000
    assert found["total"] >= 1, found
    started = time.monotonic()
    deep = json.loads(get(f"http://{ADDR}/admin/customers?limit=50&offset={max(0, size - 50)}",
                          ADMIN_TOKEN))
    figures["admin_last_page_ms"] = (time.monotonic() - started) * 1000
    # The page after it (the 10,000 imported above follow), by the cursor that page carries.
    assert deep["next"], deep
    started = time.monotonic()
    get(f"http://{ADDR}/admin/customers?limit=50&after={deep['next']}", ADMIN_TOKEN)
    figures["admin_cursor_page_ms"] = (time.monotonic() - started) * 1000
    figures.update(console_lookups(sample[1], found["customers"][0]["id"]))
    figures["cli_search_s"], _ = run(env, "customers", "list", "--search", needle)
    figures["peak_rss_mib"] = server.peak_kib() / 1024
    server.stop()

    figures["migrate_s"], _ = run(env, "migrate")
    run(env, "customers", "list", "--limit", "1")
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    figures["bytes_per_customer"] = sum(
        p.stat().st_size for p in work.glob("customer-area.db*")) / (size + 10_000)

    if largest and VARIANTS:
        figures["variants"] = [cache_variant(env, work, cache_kib, mmap_mib)
                               for cache_kib, mmap_mib in VARIANTS]

    if largest and SWEEP_ROWS:
        say(f"housekeeping: a sweep of {SWEEP_ROWS:,} expired sessions")
        expire_sessions(db, SWEEP_ROWS)
        started = time.monotonic()
        server = Server(env, work / "server-sweep.log")
        # Housekeeping runs at start; it logs how many rows it removed once it is done.
        while "housekeeping removed expired rows" not in (work / "server-sweep.log").read_text():
            time.sleep(0.2)
            if time.monotonic() - started > 600:
                sys.exit("the sweep did not finish within 10 minutes")
        figures["sweep_s"] = time.monotonic() - started
        figures["sweep_longest_write_ms"] = server.metric(
            "customer_area_db_longest_write_seconds") * 1000
        server.stop()
    return figures


def cache_variant(env, work, cache_kib, mmap_mib):
    """GET and PATCH with SQLite's page cache and memory map set (`database.cache_kib`,
    `database.mmap_mib`), the server started afresh on the same database."""
    say(f"GET and PATCH with cache_kib = {cache_kib}, mmap_mib = {mmap_mib}")
    env = dict(env, CUSTOMER_AREA_DATABASE_CACHE_KIB=str(cache_kib),
               CUSTOMER_AREA_DATABASE_MMAP_MIB=str(mmap_mib))
    server = Server(env, work / f"server-{cache_kib}-{mmap_mib}.log")
    wrk(work / "self.targets", 16, seconds=2)  # warm-up
    figures = {"cache_kib": cache_kib, "mmap_mib": mmap_mib,
               "get": wrk(work / "self.targets", 64),
               "patch": wrk(work / "self.targets", 16, BENCH_METHOD="PATCH",
                            BENCH_BODY='{"phone":"+44 20 %N","address_town":"Town %I"}')}
    peak, mapped = server.memory_kib()
    figures["peak_rss_mib"], figures["rss_file_mib"] = peak / 1024, mapped / 1024
    server.stop()
    return figures


def variants_table(rows):
    small, large = rows[0], rows[-1]
    if "variants" not in large:
        return ""
    lines = [f"SQLite's page cache and memory map at {large['customers']:,} customers "
             f"(throughput as a share of the default's at {small['customers']:,}, "
             "measured earlier in this run):", "",
             "| cache_kib | mmap_mib | GET req/s | GET vs small | PATCH req/s | PATCH vs small "
             "| peak RSS MiB | of it mapped files MiB |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v in large["variants"]:
        lines.append(
            f"| {v['cache_kib']:,} | {v['mmap_mib']:,} | {v['get']['rps']:,.0f} | "
            f"{v['get']['rps'] / small['get']['rps']:.0%} | {v['patch']['rps']:,.0f} | "
            f"{v['patch']['rps'] / small['patch']['rps']:.0%} | {v['peak_rss_mib']:.1f} | "
            f"{v['rss_file_mib']:.1f} |")
    return "\n".join(lines) + "\n"


def timed_ms(url, times=5):
    """The median time of `times` admin GETs of `url` over loopback HTTP, in ms: the server's
    time plus a loopback round trip."""
    spent = []
    for _ in range(times):
        started = time.monotonic()
        get(url, ADMIN_TOKEN)
        spent.append((time.monotonic() - started) * 1000)
    return sorted(spent)[len(spent) // 2]


def console_lookups(i, some_id):
    """The console's customer search, each way a support agent looks a customer up (part of
    an email, of an identifier, of a name; an id opens the customer; a broad search that
    every customer matches), and the overview's figures (`GET /admin/stats`): the slowest
    median, and the stats' first (cold) answer."""
    base = f"http://{ADDR}/admin"
    started = time.monotonic()
    get(f"{base}/stats", ADMIN_TOKEN)
    first_stats_ms = (time.monotonic() - started) * 1000
    ways = {
        "email": f"{base}/customers?limit=25&search=c{i}%40example",
        "identifier": f"{base}/customers?limit=25&search=c-{i}",
        "name": f"{base}/customers?limit=25&search=customer%20{i}",
        "id": f"{base}/customers/{some_id}",
        "broad": f"{base}/customers?limit=25&search=example.com",
    }
    medians = {way: timed_ms(url) for way, url in ways.items()}
    slowest = max(medians, key=medians.get)
    return {"console_search_ms": medians[slowest], "console_search_slowest": slowest,
            "stats_ms": timed_ms(f"{base}/stats"), "stats_first_ms": first_stats_ms}


def backup_while_serving(env, work):
    """`backup` while 16 connections read their records."""
    load = subprocess.Popen(["wrk", "-t1", "-c16", "-d120s", "-s", str(BENCH / "requests.lua"),
                             f"http://{ADDR}"], env=dict(os.environ,
                                                         BENCH_TARGETS=str(work / "self.targets")),
                            stdout=subprocess.DEVNULL)
    time.sleep(1)
    try:
        seconds, _ = run(env, "backup", str(work / "backup.db"), "--force")
    finally:
        load.terminate()
        load.wait()
    (work / "backup.db").unlink()
    return seconds


def table(rows):
    cols = [
        ("customers", "customers", "{:,}"),
        ("seed import s", "seed_import_s", "{:.1f}"),
        ("GET req/s", lambda r: r["get"]["rps"], "{:,.0f}"),
        ("GET p99 ms", lambda r: r["get"]["p99_ms"], "{:.2f}"),
        ("PATCH req/s", lambda r: r["patch"]["rps"], "{:,.0f}"),
        ("PATCH p99 ms", lambda r: r["patch"]["p99_ms"], "{:.2f}"),
        ("login/s", lambda r: r["login"]["rps"], "{:.1f}"),
        ("import 10k s", "import_10k_s", "{:.2f}"),
        ("backup s", "backup_s", "{:.2f}"),
        ("admin search ms", "admin_search_ms", "{:.1f}"),
        ("admin last page ms", "admin_last_page_ms", "{:.1f}"),
        ("admin page by after ms", "admin_cursor_page_ms", "{:.1f}"),
        ("console search ms (slowest way)", lambda r: f"{r['console_search_ms']:.1f} ({r['console_search_slowest']})", "{}"),
        ("stats ms (first)", lambda r: f"{r['stats_ms']:.1f} ({r['stats_first_ms']:.1f})", "{}"),
        ("CLI search s", "cli_search_s", "{:.2f}"),
        ("migrate s", "migrate_s", "{:.2f}"),
        ("first answer ms", "first_answer_ms", "{:.0f}"),
        ("peak RSS MiB", "peak_rss_mib", "{:.1f}"),
        ("bytes/customer", "bytes_per_customer", "{:,.0f}"),
    ]
    value = lambda r, key: key(r) if callable(key) else r[key]
    lines = ["| " + " | ".join(c[0] for c in cols) + " |",
             "| " + " | ".join("---:" for _ in cols) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(fmt.format(value(r, key)) for _, key, fmt in cols) + " |")
    return "\n".join(lines)


def targets(rows):
    small, large = rows[0], rows[-1]
    out = []
    def row(target, measured, met):
        out.append(f"| {target} | {measured} | {'met' if met else 'NOT met'} |")
    for kind in ("get", "patch"):
        ratio = large[kind]["rps"] / small[kind]["rps"]
        row(f"{kind.upper()} throughput at {large['customers']:,} ≥ 90% of {small['customers']:,}",
            f"{ratio:.0%}", ratio >= 0.9)
        worst = max(r[kind]["p99_ms"] for r in rows)
        row(f"{kind.upper()} p99 < 25 ms at every size", f"{worst:.2f} ms", worst < 25)
    million = next((r for r in rows if r["customers"] == 1_000_000), None)
    if million:
        row("import of 1,000,000 rows < 60 s", f"{million['seed_import_s']:.1f} s",
            million["seed_import_s"] < 60)
    else:
        out.append("| import of 1,000,000 rows < 60 s | not measured (no size of 1,000,000) | - |")
    row(f"backup at {large['customers']:,} < 15 s while serving", f"{large['backup_s']:.2f} s",
        large["backup_s"] < 15)
    worst = max(r["first_answer_ms"] for r in rows)
    row("serve answers within 1 s of start", f"{worst:.0f} ms", worst < 1000)
    worst = max(r["peak_rss_mib"] for r in rows)
    row("server peak RSS < 64 MiB", f"{worst:.1f} MiB", worst < 64)
    worst = max(max(r["admin_search_ms"], r["admin_cursor_page_ms"]) for r in rows)
    row("admin listing (a page at the end, by `after`) and search < 100 ms", f"{worst:.1f} ms",
        worst < 100)
    worst = max(r["console_search_ms"] for r in rows)
    row("console search (email, identifier, name or id) < 100 ms", f"{worst:.1f} ms",
        worst < 100)
    worst = max(max(r["stats_ms"], r["stats_first_ms"]) for r in rows)
    row("console overview (`GET /admin/stats`) < 200 ms", f"{worst:.1f} ms", worst < 200)
    out.append(f"| (the same page by `offset`, walked row by row) | "
               f"{large['admin_last_page_ms']:.1f} ms | - |")
    if "sweep_longest_write_ms" in large:
        row(f"longest writer pause in a sweep of {SWEEP_ROWS:,} expired rows < 50 ms",
            f"{large['sweep_longest_write_ms']:.1f} ms (sweep {large['sweep_s']:.1f} s)",
            large["sweep_longest_write_ms"] < 50)
    return "\n".join(["| target | measured | verdict |", "| --- | --- | --- |", *out])


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = [r["customers"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ax.plot(sizes, [r["get"]["rps"] for r in rows], "o-", label="GET /customers/self")
    ax.plot(sizes, [r["patch"]["rps"] for r in rows], "s-", label="PATCH /customers/self")
    ax.set_title("throughput (requests/s)")
    ax.set_ylim(bottom=0)
    ax = axes[1]
    ax.plot(sizes, [r["get"]["p99_ms"] for r in rows], "o-", label="GET p99")
    ax.plot(sizes, [r["patch"]["p99_ms"] for r in rows], "s-", label="PATCH p99")
    ax.axhline(25, color="grey", linestyle=":", label="target 25 ms")
    ax.set_title("p99 latency (ms)")
    ax.set_ylim(bottom=0)
    ax = axes[2]
    ax.plot(sizes, [r["peak_rss_mib"] for r in rows], "o-", label="server peak RSS (MiB)")
    ax.plot(sizes, [r["bytes_per_customer"] / 1024 for r in rows], "s-",
            label="database KiB per customer")
    ax.plot(sizes, [r["import_10k_s"] * 10 for r in rows], "^-", label="import 10k rows (0.1 s)")
    ax.set_title("memory, disk and import")
    ax.set_ylim(bottom=0)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("customers")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    import tempfile
    rows = []
    for size in SIZES:
        with tempfile.TemporaryDirectory(prefix="customer-area-scale.") as work:
            rows.append(measure(size, Path(work), size == max(SIZES)))
            print(json.dumps(rows[-1]), file=sys.stderr)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    report = "\n".join([
        f"# customer-area at scale, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), {os.uname().sysname} {os.uname().release}; "
        f"wrk on the same machine. {SECONDS} s per phase, commit {commit}. "
        f"GET at 64 connections and PATCH at 16, over {SAMPLE:,} customers chosen at random "
        "(every customer when there are fewer); login at 8 connections (600,000 iterations).",
        "",
        table(rows),
        "",
        targets(rows),
        "",
        variants_table(rows),
    ])
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    out = results / time.strftime("%Y-%m-%d-%H%M%S-scale.md")
    out.write_text(report)
    (results / (out.stem + ".json")).write_text(json.dumps(rows, indent=1))
    plot(rows, ROOT / "docs" / "scale.png")
    print(report)
    print(f"(written to {out.relative_to(ROOT)} and docs/scale.png)")


if __name__ == "__main__":
    main()
