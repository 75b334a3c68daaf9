"""bench/run import: moving in, measured (issue 34, item 7).

1. A CSV file of BENCH_IMPORT_ROWS customers (default 1,000,000) in the import format of
   docs/moving-in.md, every row with a password hash, a created_at, a list, its subscribed_at
   and a consent_source, is imported into an empty database with `customers import`; the wall
   time is the figure (target: under 60 s for a million rows; nothing is hashed at import).
2. The first sign-in of imported bcrypt, phpass and Django PBKDF2 accounts (one legacy check,
   then this product's own PBKDF2 hash, stored in the sign-in's transaction) against the
   sign-in of the same accounts once upgraded (a native PBKDF2 check): median of
   BENCH_IMPORT_LOGINS accounts per scheme (default 5), one at a time.

The hashes are made by the reference libraries of tests/vectors/make.py (passlib 1.7.4 for
phpass and Django's PBKDF2, the `bcrypt` package for bcrypt), not by this product: a pool of
BENCH_IMPORT_POOL hashes of one password per scheme (default 32, each with its own salt) that
the rows take in turn, since making a million bcrypt hashes would take hours and the import
checks only their shape. Magento 2's SHA-256 form (`sha256(salt + password):salt:1`, Magento's
own algorithm, written here with hashlib) is cheap enough to be made for every row: a quarter
of the rows carry one.

The table goes to bench/results/<date>-import.md. Run through `bench/run import`, which builds
first and installs the libraries into bench/.venv.
"""

import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
from passlib.hash import django_pbkdf2_sha256, phpass

ROOT = Path(__file__).resolve().parent.parent
# The release build bench/run makes; another binary (a debug build, to try the script quickly)
# through BENCH_IMPORT_BINARY, whose figures are then no measurement of the product.
CA = Path(os.environ.get("BENCH_IMPORT_BINARY", ROOT / "target" / "release" / "customer-area"))
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
POOL = int(os.environ.get("BENCH_IMPORT_POOL", "32"))
LOGINS = int(os.environ.get("BENCH_IMPORT_LOGINS", "5"))
ADDR = "127.0.0.1:18080"
PASSWORD = "correct horse battery staple"
# The schemes of the rows, in turn: row n has SCHEMES[n % 4].
SCHEMES = ["bcrypt", "phpass", "django_pbkdf2_sha256", "magento2"]


def say(text):
    print(f"\n== {text}", file=sys.stderr, flush=True)


def pools():
    """POOL hashes of PASSWORD per scheme but magento2, made by the reference libraries."""
    made = {
        "bcrypt": [
            bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10, prefix=b"2b")).decode()
            for _ in range(POOL)
        ],
        "phpass": [phpass.hash(PASSWORD) for _ in range(POOL)],
        "django_pbkdf2_sha256": [django_pbkdf2_sha256.hash(PASSWORD) for _ in range(POOL)],
    }
    return made


def magento2(n):
    salt = f"{n:032x}"[-32:]
    digest = hashlib.sha256((salt + PASSWORD).encode()).hexdigest()
    return f"{digest}:{salt}:1"


def write_file(path, made):
    with open(path, "w", encoding="utf-8") as out:
        out.write("id,email,name,identifier,created_at,password_hash,subscriptions,"
                  "subscribed_at,consent_source\n")
        for n in range(ROWS):
            scheme = SCHEMES[n % len(SCHEMES)]
            hashed = magento2(n) if scheme == "magento2" else made[scheme][(n // 4) % POOL]
            out.write(f"{10_000_000_000_000 + n * 7919},moved{n}@example.com,Moved {n},"
                      f"old-{n},2020-01-02T03:04:05Z,{hashed},newsletter,"
                      f"2021-05-06T07:08:09Z,{scheme}\n")


def run(args, work, check=True):
    return subprocess.run([str(CA), "--config", str(work / "bench.toml"), *args], cwd=work,
                          check=check, capture_output=True, text=True)


def login(email):
    """Seconds one sign-in takes, from the request to the answer (200 expected)."""
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(f"http://{ADDR}/customers/login", data=body,
                                     headers={"content-type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()
        assert answer.status == 200, answer.status
    return time.perf_counter() - started


def main():
    work = Path(tempfile.mkdtemp(prefix="customer-area-import."))
    (work / "bench.toml").write_text(
        f'[server]\nbind = "{ADDR}"\n\n[database]\npath = "bench.db"\n\n'
        '[mail]\ndir = "mail"\n\n[limits]\nlogin_per_ip_per_minute = 100000\n')
    say(f"making {POOL} hashes per scheme with the reference libraries")
    started = time.perf_counter()
    made = pools()
    say(f"writing {ROWS:,} rows ({time.perf_counter() - started:.1f} s of hashing)")
    csv = work / "moving-in.csv"
    write_file(csv, made)
    run(["subscriptions", "add", "newsletter", "--name", "Newsletter"], work)

    say(f"customers import of {ROWS:,} rows")
    started = time.perf_counter()
    imported = run(["customers", "import", str(csv)], work)
    import_seconds = time.perf_counter() - started
    print(imported.stdout, file=sys.stderr)

    say("first sign-in of imported accounts against the same accounts upgraded")
    server = subprocess.Popen([str(CA), "--config", str(work / "bench.toml"), "serve"], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://{ADDR}/healthz", timeout=1).read()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        times = {}
        for i, scheme in enumerate(SCHEMES[:3]):
            emails = [f"moved{n}@example.com" for n in range(i, 4 * LOGINS, 4)]
            first = [login(email) for email in emails]
            again = [login(email) for email in emails]
            times[scheme] = (statistics.median(first), statistics.median(again))
    finally:
        server.terminate()
        server.wait(timeout=30)

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"# bench/run import, {when}, commit {commit}, {os.cpu_count()} cores, "
        f"load {open('/proc/loadavg').read().split()[0]}, binary {CA}",
        "",
        f"`customers import` of {ROWS:,} rows with password hashes (bcrypt, phpass, Django "
        f"PBKDF2: pools of {POOL} per scheme from passlib / bcrypt; Magento 2 SHA-256 per row): "
        f"**{import_seconds:.1f} s** ({ROWS / import_seconds:,.0f} rows/s).",
        "",
        f"| scheme | first sign-in (legacy check + PBKDF2 upgrade), median of {LOGINS} | "
        "same account upgraded (native PBKDF2) | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for scheme, (first, again) in times.items():
        lines.append(f"| {scheme} | {first * 1000:.0f} ms | {again * 1000:.0f} ms | "
                     f"{first / again:.2f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{time.strftime('%Y-%m-%d', time.gmtime())}-import.md").write_text(table)
    if not os.environ.get("BENCH_KEEP"):
        subprocess.run(["rm", "-rf", str(work)], check=False)
    else:
        print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
