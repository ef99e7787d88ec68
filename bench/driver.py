#!/usr/bin/env python3
"""The Portcullis load benchmark (started by bench/run, which builds and installs first).

Starts each server on 127.0.0.1 with a fresh database, drives it with wrk for a fixed
duration after a warm-up, at 1 and 32 connections, and prints one table with every figure
also as a ratio to the ceiling (a bare axum server) measured in the same run. Writes the
figures as JSON and the table as text to bench/results/. See bench/README.md.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LUA = os.path.join(HERE, "lua")
TARGET = os.path.join(ROOT, "target", "release")
PORTCULLIS = os.path.join(TARGET, "portcullis")
HELPER = os.path.join(TARGET, "bench-helper")
CEILING = os.path.join(TARGET, "ceiling")

SCOPE = "api:read"
PEER_ID, PEER_SECRET = "bench", "bench-secret-bench-secret-bench-secret"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
REDIRECT = "http://127.0.0.1/cb"
# The --only groups, in the order they run. `portcullis` includes `jwt`; `postgres` runs only
# with --postgres-url.
GROUPS = ("ceiling", "portcullis", "jwt", "api", "peer", "scale", "postgres", "side")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def basic(client_id, secret):
    q = urllib.parse.quote
    return "Basic " + base64.b64encode(f"{q(client_id, safe='')}:{q(secret, safe='')}".encode()).decode()


def post_form(url, fields, auth):
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def jwt_parts(token):
    """The decoded header and claims of a compact JWS (the signature is not checked here)."""
    def part(s):
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    pieces = token.split(".")
    if len(pieces) != 3:
        raise ValueError(f"{len(pieces)} dot-separated parts, not 3")
    return part(pieces[0]), part(pieces[1])


# ---------------------------------------------------------------------------- processes


class Server:
    """A server process on loopback; `ready` is a regex matched on its stdout."""

    def __init__(self, name, cmd, workdir, ready, env=None, cwd=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.log, env=full_env, cwd=cwd, text=True
        )
        deadline = time.time() + 60
        self.url = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.write(line)
            m = re.search(ready, line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise SystemExit(f"{name} did not start; see {self.log_path}")
        host = urllib.parse.urlparse(self.url).hostname
        if host != "127.0.0.1":
            self.stop()
            raise SystemExit(f"{name} is not on loopback: {self.url}")
        # Keep draining stdout into the log so the server never blocks on a full pipe.
        self._drain = threading.Thread(target=self._pump, daemon=True)
        self._drain.start()
        log(f"{name} listening on {self.url} (pid {self.proc.pid})")

    def _pump(self):
        for line in self.proc.stdout:
            self.log.write(line)

    def status(self):
        out = {}
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("VmHWM", "VmRSS"):
                        out[k] = int(v.split()[0]) * 1024
        except OSError:
            pass
        return out

    def cpu_seconds(self):
        """User + system CPU time of the server process so far (all threads)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def reset_peak(self):
        """Reset VmHWM to the current RSS (Linux: writing 5 to clear_refs)."""
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_drain", None):
            self._drain.join(timeout=5)
        self.log.close()
        # Write back what this server left in the page cache (its database and WAL: hundreds
        # of megabytes after the issuance rows) before the next server is measured; written
        # back during the next rows, it took a third of their CPU (BearerLayer GET 16 -> 21 µs
        # per request, JWT issuance 89 -> 134 µs, in two full runs).
        os.sync()


def run(cmd, env=None, input_text=None):
    full_env = dict(os.environ, **(env or {}))
    r = subprocess.run(cmd, capture_output=True, text=True, env=full_env, input=input_text)
    if r.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def cli(db_url, *args):
    out = run([PORTCULLIS, "--database-url", db_url, "--json", *args])
    return json.loads(out) if out.strip().startswith(("{", "[")) else out


# --------------------------------------------------------------------------------- wrk


class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.rows = []
        self.files = 0

    def wrk(self, url, script, conns, seconds, env=None):
        threads = 1 if conns == 1 else 2
        full_env = dict(os.environ, BENCH_LUA_DIR=LUA, BENCH_THREADS=str(threads), **(env or {}))
        cmd = [
            "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s",
            "-s", os.path.join(LUA, script), url,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=seconds + 120)
        for line in r.stdout.splitlines():
            if line.startswith("BENCHJSON "):
                return json.loads(line[len("BENCHJSON "):])
        raise SystemExit(f"wrk printed no result ({' '.join(cmd)}):\n{r.stdout}\n{r.stderr}")

    def scenario(self, key, label, server, conns, url, script, env=None, per_run=None, group=None,
                 record=True, warmup=None, duration=None):
        """Warm up, then measure. `per_run(seconds)` prepares fresh env (codes, seeds) for
        each wrk invocation and returns extra env. Rows go into the table unless `record` is
        false (the side-by-side rounds keep theirs apart)."""
        a = self.args
        warmup = a.warmup if warmup is None else warmup
        duration = a.duration if duration is None else duration
        server.reset_peak()
        if warmup > 0:
            extra = per_run(warmup, "warmup") if per_run else {}
            self.wrk(url, script, conns, warmup, dict(env or {}, **extra))
        extra = per_run(duration, "run") if per_run else {}
        cpu0, stat0 = server.cpu_seconds(), machine_cpu()
        r = self.wrk(url, script, conns, duration, dict(env or {}, **extra))
        cpu1, stat1 = server.cpu_seconds(), machine_cpu()
        st = server.status()
        errors = sum(r["errors"].values())
        row = {
            "key": key,
            "scenario": label,
            "group": group or key,
            "server": server.name,
            "connections": conns,
            "requests": r["requests"],
            "seconds": r["duration_us"] / 1e6,
            "rps": r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0,
            "p50_ms": r["latency_us"]["p50"] / 1000,
            "p90_ms": r["latency_us"]["p90"] / 1000,
            "p99_ms": r["latency_us"]["p99"] / 1000,
            "max_ms": r["latency_us"]["max"] / 1000,
            "errors": errors,
            "error_detail": r["errors"],
            "exhausted_threads": r.get("exhausted", 0),
            "server_cpu_us_per_request": (cpu1 - cpu0) * 1e6 / r["requests"]
            if cpu0 is not None and cpu1 is not None and r["requests"] else None,
            "peak_rss": st.get("VmHWM"),
            "rss_after": st.get("VmRSS"),
            # Of the machine's CPU time during the row, the share the hypervisor gave to other
            # guests ("steal"): above a few percent the row ran on a slowed machine.
            "steal_pct": 100 * (stat1[1] - stat0[1]) / (stat1[0] - stat0[0])
            if stat0 and stat1 and stat1[0] > stat0[0] else None,
        }
        if record:
            self.rows.append(row)
        log(
            f"{'' if record else '(not in the table) '}{label} c={conns}: {row['rps']:.0f} req/s p50 {row['p50_ms']:.2f} ms "
            f"p99 {row['p99_ms']:.2f} ms errors {errors} peak RSS {fmt_mib(row['peak_rss'])} MiB "
            f"server CPU {row['server_cpu_us_per_request'] or 0:.0f} µs/req steal {row['steal_pct'] or 0:.1f} %"
        )
        return row

    def file(self, name):
        self.files += 1
        return os.path.join(self.workdir, f"{self.files:03d}-{name}")


def machine_cpu():
    """(all CPU time, steal time) of the machine so far, in clock ticks, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields[:8]), fields[7]
    except (OSError, ValueError, IndexError):
        return None


def fmt_mib(b):
    return f"{b / 1048576:.1f}" if b else "?"


# ----------------------------------------------------------------------------- scenarios


def setup_portcullis_db(db_url, *client_args):
    """Migrate, create the scope and one client_credentials client (`client_args` added to
    `client create`); returns its id and secret."""
    cli(db_url, "migrate")
    cli(db_url, "scope", "create", SCOPE, "--description", "Benchmark scope")
    svc = cli(db_url, "client", "create", "--name", "bench-svc", "--grant-type", "client_credentials",
              "--scope", SCOPE, *client_args)
    return svc["client_id"], svc["client_secret"]


def create_web_client(db_url):
    """The authorization_code + refresh_token client of the refresh and code rows."""
    web = cli(db_url, "client", "create", "--name", "bench-web", "--grant-type", "authorization_code",
              "--grant-type", "refresh_token", "--redirect-uri", REDIRECT, "--scope", SCOPE,
              "--authorization-code-lifetime", "3600")
    return web["client_id"], web["client_secret"]


def refresh_seeds(b, url, web_id, c):
    """Per measured run: fresh refresh tokens (each in a family of its own), minted through the
    store by bench-helper; each connection rotates its own chain (lua/refresh.lua)."""
    def make(seconds, phase):
        backend = "pg" if url.startswith("postgres") else "sqlite"
        path = b.file(f"refresh-{backend}-{c}-{phase}.txt")
        run([HELPER, "--database-url", url, "refresh", "--client-id", web_id, "--subject",
             "bench-user", "--scope", SCOPE, "--count", str(max(8, 4 * c)), "--out", path])
        return {"BENCH_FILE": path}
    return make


def portcullis_scenarios(b, conns_list):
    a = b.args
    db = os.path.join(b.workdir, "portcullis.db")
    url = f"sqlite://{db}"
    svc_id, svc_secret = setup_portcullis_db(url)
    web_id, web_secret = create_web_client(url)
    legacy_secret = "imported-legacy-secret"
    cli(url, "client", "create", "--name", "bench-legacy", "--id", "bench-legacy", "--secret",
        legacy_secret, "--grant-type", "client_credentials", "--scope", SCOPE)

    srv = Server("portcullis", [PORTCULLIS, "--database-url", url, "serve", "--listen", "127.0.0.1:0"],
                 b.workdir, r"listening on (http://\S+)")
    base = srv.url
    svc_auth = basic(svc_id, svc_secret)
    web_auth = basic(web_id, web_secret)
    cc_body = f"grant_type=client_credentials&scope={urllib.parse.quote(SCOPE)}"
    rates = {}
    try:
        for c in conns_list:
            r = b.scenario("cc", "client_credentials issuance (opaque, SQLite)", srv, c, base + "/token",
                           "form.lua", {"BENCH_BODY": cc_body, "BENCH_AUTH": svc_auth})
            rates[c] = r["rps"]
        token = post_form(base + "/token", {"grant_type": "client_credentials", "scope": SCOPE},
                          svc_auth)["access_token"]
        for c in conns_list:
            b.scenario("introspect", "introspection of an opaque token", srv, c, base + "/introspect",
                       "form.lua", {"BENCH_BODY": f"token={token}&token_type_hint=access_token",
                                    "BENCH_AUTH": svc_auth})

        for c in conns_list:
            b.scenario("refresh", "refresh_token grant (rotation)", srv, c, base + "/token", "refresh.lua",
                       {"BENCH_AUTH": web_auth}, per_run=refresh_seeds(b, url, web_id, c))

        def code_batch(c):
            def make(seconds, phase):
                # Exchange costs more than client_credentials issuance, so its rate bounds
                # how many codes a run can use; mint a margin above that.
                n = int(rates.get(c, 2000) * seconds * 1.5) + 64 * c
                path = b.file(f"codes-{c}-{phase}.txt")
                t0 = time.time()
                run([HELPER, "--database-url", url, "codes", "--client-id", web_id, "--subject",
                     "bench-user", "--redirect-uri", REDIRECT, "--scope", SCOPE, "--verifier", VERIFIER,
                     "--count", str(n), "--out", path])
                log(f"minted {n} codes in {time.time() - t0:.1f}s")
                return {"BENCH_FILE": path}
            return make

        code_body = (f"grant_type=authorization_code&redirect_uri={urllib.parse.quote(REDIRECT, safe='')}"
                     f"&code_verifier={VERIFIER}")
        for c in conns_list:
            b.scenario("code", "authorization_code exchange (PKCE S256)", srv, c, base + "/token",
                       "codes.lua", {"BENCH_BODY": code_body, "BENCH_AUTH": web_auth}, per_run=code_batch(c))

        legacy_auth = basic("bench-legacy", legacy_secret)
        for c in conns_list:
            b.scenario("cc_argon2", "client_credentials, imported Argon2id client secret", srv, c,
                       base + "/token", "form.lua", {"BENCH_BODY": cc_body, "BENCH_AUTH": legacy_auth})

        if not a.skip_scale:
            # The "empty" side of the distinct-token comparison: the same number of known
            # tokens as the scale database carries, and nothing else.
            known = os.path.join(b.workdir, "known-small.txt")
            run([HELPER, "--database-url", url, "seed", "--client-id", svc_id, "--scope", SCOPE,
                 "--total", str(a.known), "--known", str(a.known), "--out", known])
            b.scenario("distinct_small", f"introspection, a random one of {a.known:,} seeded tokens",
                       srv, 32, base + "/introspect", "distinct.lua",
                       {"BENCH_FILE": known, "BENCH_AUTH": svc_auth}, group="distinct")
        idle = idle_rss(srv, a.idle)
    finally:
        srv.stop()
    return {"portcullis": idle}, rates


def check_jwt_access_token(base, client_id, auth):
    """Issue one token and fail loudly unless it is an RFC 9068 JWT signed with ES256 by a key
    the server publishes: the rows must not measure opaque tokens or another algorithm."""
    resp = post_form(base + "/token", {"grant_type": "client_credentials", "scope": SCOPE}, auth)
    token = resp.get("access_token") or ""
    try:
        header, claims = jwt_parts(token)
    except ValueError as e:
        raise SystemExit(f"JWT rows: the access token is not a JWT ({e}): {token[:40]}...")
    problems = []
    if header.get("alg") != "ES256":
        problems.append(f"alg {header.get('alg')!r}, expected 'ES256'")
    if header.get("typ") != "at+jwt":
        problems.append(f"typ {header.get('typ')!r}, expected 'at+jwt'")
    keys = [k for k in get_json(base + "/jwks.json").get("keys", []) if k.get("kid") == header.get("kid")]
    if not keys or keys[0].get("alg") != "ES256" or keys[0].get("crv") != "P-256":
        problems.append(f"kid {header.get('kid')!r} is not an ES256 (P-256) key in /jwks.json")
    if claims.get("client_id") != client_id or claims.get("scope") != SCOPE or not claims.get("jti"):
        problems.append(f"claims client_id/scope/jti: {claims.get('client_id')!r}/{claims.get('scope')!r}/"
                        f"{claims.get('jti')!r}")
    if problems:
        raise SystemExit("JWT rows: the access token is not what they should measure: " + "; ".join(problems)
                         + f"\n  header {json.dumps(header)}")
    log(f"JWT access token checked: header {json.dumps(header, sort_keys=True)}, {len(token)} bytes")


def jwt_scenarios(b, conns_list):
    """client_credentials issuance of RFC 9068 JWT access tokens signed with ES256: a server of
    its own (`signing_alg = ES256`, a fresh database), so the opaque rows run exactly as before
    and this row starts, like theirs, from a database holding no tokens."""
    db = os.path.join(b.workdir, "jwt.db")
    url = f"sqlite://{db}"
    svc_id, svc_secret = setup_portcullis_db(url, "--access-token-format", "jwt")
    srv = Server("portcullis-jwt", [PORTCULLIS, "--database-url", url, "serve", "--listen", "127.0.0.1:0"],
                 b.workdir, r"listening on (http://\S+)", env={"PORTCULLIS_SIGNING_ALG": "ES256"})
    auth = basic(svc_id, svc_secret)
    try:
        check_jwt_access_token(srv.url, svc_id, auth)
        for c in conns_list:
            b.scenario("jwt", "client_credentials issuance, JWT access tokens (ES256)", srv, c, srv.url + "/token",
                       "form.lua", {"BENCH_BODY": f"grant_type=client_credentials&scope={urllib.parse.quote(SCOPE)}",
                                    "BENCH_AUTH": auth})
        idle = idle_rss(srv, b.args.idle)
    finally:
        srv.stop()
    return {"portcullis-jwt": idle}


def psql():
    """psql from Debian's PostgreSQL packages (as .ci/postgres installs them) or the PATH."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return found[-1] if found else "psql"


def postgres_scenarios(b, conns_list, admin_url):
    """The opaque issuance, introspection and refresh rows on PostgreSQL: a fresh database on the
    server at `admin_url` (a role with CREATEDB, as `.ci/postgres start` prints), dropped at
    the end. The CPU column counts Portcullis only, not the database server, which shares the
    machine."""
    name = f"portcullis_bench_{os.getpid()}_{int(time.time())}"
    base_url, _, _ = admin_url.rpartition("/")
    url = f"{base_url}/{name}"
    run([psql(), "-q", admin_url, "-c", f"CREATE DATABASE {name}"])
    try:
        svc_id, svc_secret = setup_portcullis_db(url)
        web_id, web_secret = create_web_client(url)
        srv = Server("portcullis-pg", [PORTCULLIS, "--database-url", url, "serve", "--listen", "127.0.0.1:0"],
                     b.workdir, r"listening on (http://\S+)")
        auth = basic(svc_id, svc_secret)
        try:
            for c in conns_list:
                b.scenario("pg_cc", "client_credentials issuance (opaque, PostgreSQL)", srv, c, srv.url + "/token",
                           "form.lua", {"BENCH_BODY": f"grant_type=client_credentials&scope={urllib.parse.quote(SCOPE)}",
                                        "BENCH_AUTH": auth})
            token = post_form(srv.url + "/token", {"grant_type": "client_credentials", "scope": SCOPE},
                              auth)["access_token"]
            for c in conns_list:
                b.scenario("pg_introspect", "introspection of an opaque token (PostgreSQL)", srv, c,
                           srv.url + "/introspect", "form.lua",
                           {"BENCH_BODY": f"token={token}&token_type_hint=access_token", "BENCH_AUTH": auth})
            for c in conns_list:
                b.scenario("pg_refresh", "refresh_token grant (rotation, PostgreSQL)", srv, c,
                           srv.url + "/token", "refresh.lua", {"BENCH_AUTH": basic(web_id, web_secret)},
                           per_run=refresh_seeds(b, url, web_id, c))
            idle = idle_rss(srv, b.args.idle)
        finally:
            srv.stop()
    finally:
        run([psql(), "-q", admin_url, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
    return {"portcullis-pg": idle}


def idle_rss(srv, seconds):
    time.sleep(seconds)
    st = srv.status()
    return {"rss_idle_after_load": st.get("VmRSS"), "idle_seconds": seconds}


def api_scenarios(b, conns_list):
    db = os.path.join(b.workdir, "api.db")
    url = f"sqlite://{db}"
    cli(url, "migrate")
    cli(url, "scope", "create", "notes:read", "--description", "Read notes")
    svc = cli(url, "client", "create", "--name", "notes-reader", "--grant-type", "client_credentials",
              "--scope", "notes:read")
    srv = Server("api", [HELPER, "--database-url", url, "api", "--listen", "127.0.0.1:0"], b.workdir,
                 r"listening on (http://\S+)")
    try:
        token = post_form(srv.url + "/token", {"grant_type": "client_credentials", "scope": "notes:read"},
                          basic(svc["client_id"], svc["client_secret"]))["access_token"]
        for c in conns_list:
            b.scenario("bearer", "GET /notes behind BearerLayer::local", srv, c, srv.url + "/notes",
                       "get.lua", {"BENCH_AUTH": f"Bearer {token}"})
        idle = idle_rss(srv, b.args.idle)
    finally:
        srv.stop()
    return {"api": idle}


def ceiling_scenarios(b, conns_list, key):
    srv = Server("ceiling", [CEILING, "127.0.0.1:0"], b.workdir, r"listening on (http://\S+)")
    try:
        for c in conns_list:
            b.scenario(key, "ceiling: bare axum, fixed JSON", srv, c, srv.url + "/", "get.lua", group="ceiling")
        idle = idle_rss(srv, b.args.idle)
    finally:
        srv.stop()
    return {key: idle}


def peer_scenarios(b, conns_list):
    env = {"PEER_CLIENT_ID": PEER_ID, "PEER_CLIENT_SECRET": PEER_SECRET, "PEER_PORT": "0",
           "NODE_ENV": "production"}
    srv = Server("peer", ["node", os.path.join(HERE, "peer", "server.mjs")], b.workdir,
                 r"listening on (http://\S+)", env=env, cwd=os.path.join(HERE, "peer"))
    auth = basic(PEER_ID, PEER_SECRET)
    try:
        for c in conns_list:
            b.scenario("peer_cc", "peer oidc-provider: client_credentials issuance", srv, c, srv.url + "/token",
                       "form.lua", {"BENCH_BODY": f"grant_type=client_credentials&scope={urllib.parse.quote(SCOPE)}",
                                    "BENCH_AUTH": auth})
        token = post_form(srv.url + "/token", {"grant_type": "client_credentials", "scope": SCOPE},
                          auth)["access_token"]
        for c in conns_list:
            b.scenario("peer_introspect", "peer oidc-provider: introspection", srv, c,
                       srv.url + "/token/introspection", "form.lua",
                       {"BENCH_BODY": f"token={token}&token_type_hint=access_token", "BENCH_AUTH": auth})
        idle = idle_rss(srv, b.args.idle)
    finally:
        srv.stop()
    return {"peer": idle}


def scale_scenarios(b):
    """The 1M-token rows, each measured right after the same request on a server whose
    database is empty (for the random-token row: holds just the 100,000 known tokens): the
    `vs empty` ratio compares rows seconds apart rather than minutes (see side_by_side)."""
    a = b.args
    db = os.path.join(b.workdir, "scale.db")
    url = f"sqlite://{db}"
    svc_id, svc_secret = setup_portcullis_db(url)
    known = os.path.join(b.workdir, "known-scale.txt")
    t0 = time.time()
    run([HELPER, "--database-url", url, "seed", "--client-id", svc_id, "--scope", SCOPE,
         "--total", str(a.scale_tokens), "--known", str(a.known), "--out", known])
    seed_s = time.time() - t0
    log(f"seeded {a.scale_tokens:,} live tokens in {seed_s:.1f}s ({os.path.getsize(db) / 1048576:.0f} MiB)")
    empty_url = f"sqlite://{os.path.join(b.workdir, 'scale-empty.db')}"
    empty_id, empty_secret = setup_portcullis_db(empty_url)
    empty = Server("portcullis-scale-empty", [PORTCULLIS, "--database-url", empty_url, "serve", "--listen",
                                              "127.0.0.1:0"], b.workdir, r"listening on (http://\S+)")
    srv = None
    n = f"{a.scale_tokens:,}"
    try:
        srv = Server("portcullis-scale", [PORTCULLIS, "--database-url", url, "serve", "--listen", "127.0.0.1:0"],
                     b.workdir, r"listening on (http://\S+)")
        cc_body = f"grant_type=client_credentials&scope={urllib.parse.quote(SCOPE)}"
        sides = {"empty": (empty, basic(empty_id, empty_secret)), "scale": (srv, basic(svc_id, svc_secret))}

        def pair(key, label, empty_label, path, script, env_of):
            """The empty server's row (kept with the scale row), then the scale row."""
            server, auth = sides["empty"]
            e = b.scenario(key, empty_label, server, 32, server.url + path, script, env_of("empty", auth),
                           record=False)
            server, auth = sides["scale"]
            r = b.scenario(key, label, server, 32, server.url + path, script, env_of("scale", auth),
                           group=key.replace("scale_", ""))
            r["empty_adjacent"] = {k: e[k] for k in ("rps", "p99_ms", "server_cpu_us_per_request")}

        pair("scale_cc", f"client_credentials issuance, {n} live tokens",
             "client_credentials issuance, empty database", "/token", "form.lua",
             lambda side, auth: {"BENCH_BODY": cc_body, "BENCH_AUTH": auth})
        tokens = {side: post_form(server.url + "/token", {"grant_type": "client_credentials", "scope": SCOPE},
                                  auth)["access_token"] for side, (server, auth) in sides.items()}
        pair("scale_introspect", f"introspection of an opaque token, {n} live tokens",
             "introspection of an opaque token, empty database", "/introspect", "form.lua",
             lambda side, auth: {"BENCH_BODY": f"token={tokens[side]}&token_type_hint=access_token",
                                 "BENCH_AUTH": auth})
        # The empty side of the random-token row: the same number of known tokens, nothing else
        # (seeded while its server runs; its read cache sees another process's commits).
        known_small = os.path.join(b.workdir, "known-scale-empty.txt")
        run([HELPER, "--database-url", empty_url, "seed", "--client-id", empty_id, "--scope", SCOPE,
             "--total", str(a.known), "--known", str(a.known), "--out", known_small])
        files = {"empty": known_small, "scale": known}
        pair("scale_distinct", f"introspection, a random one of {a.known:,} seeded, {n} live tokens",
             f"introspection, a random one of {a.known:,} seeded, nothing else", "/introspect", "distinct.lua", lambda side, auth: {"BENCH_FILE": files[side], "BENCH_AUTH": auth})
        idle = idle_rss(srv, a.idle)
    finally:
        if srv:
            srv.stop()
        empty.stop()
    return {"portcullis-scale": dict(idle, seed_seconds=seed_s, db_bytes=os.path.getsize(db))}


def side_by_side(b, rounds, with_peer):
    """The ratios issue 7 sets targets for, measured side by side: the ceiling, Portcullis
    issuance, oidc-provider issuance, introspection and the BearerLayer GET, one after the
    other at 32 connections, `rounds` times, with every server up throughout (each on a fresh
    database). Each ratio is taken within a round, against that round's ceiling or peer,
    measured seconds apart; the machine's speed, which moves by up to a factor of two within
    minutes (bench/README.md), then moves both sides of a ratio alike. The rows of the main
    table stay single measurements minutes apart."""
    a = b.args
    warmup, duration = (1, 3) if a.quick else (2, 5)
    servers = []
    try:
        ceiling = Server("side-ceiling", [CEILING, "127.0.0.1:0"], b.workdir, r"listening on (http://\S+)")
        servers.append(ceiling)
        url = f"sqlite://{os.path.join(b.workdir, 'side.db')}"
        svc_id, svc_secret = setup_portcullis_db(url)
        portcullis = Server("side-portcullis", [PORTCULLIS, "--database-url", url, "serve", "--listen",
                                                "127.0.0.1:0"], b.workdir, r"listening on (http://\S+)")
        servers.append(portcullis)
        api_url = f"sqlite://{os.path.join(b.workdir, 'side-api.db')}"
        cli(api_url, "migrate")
        cli(api_url, "scope", "create", "notes:read", "--description", "Read notes")
        reader = cli(api_url, "client", "create", "--name", "notes-reader", "--grant-type", "client_credentials",
                     "--scope", "notes:read")
        api = Server("side-api", [HELPER, "--database-url", api_url, "api", "--listen", "127.0.0.1:0"],
                     b.workdir, r"listening on (http://\S+)")
        servers.append(api)
        peer = None
        if with_peer:
            peer = Server("side-peer", ["node", os.path.join(HERE, "peer", "server.mjs")], b.workdir,
                          r"listening on (http://\S+)", cwd=os.path.join(HERE, "peer"),
                          env={"PEER_CLIENT_ID": PEER_ID, "PEER_CLIENT_SECRET": PEER_SECRET, "PEER_PORT": "0",
                               "NODE_ENV": "production"})
            servers.append(peer)
        auth = basic(svc_id, svc_secret)
        cc_body = f"grant_type=client_credentials&scope={urllib.parse.quote(SCOPE)}"
        token = post_form(portcullis.url + "/token", {"grant_type": "client_credentials", "scope": SCOPE},
                          auth)["access_token"]
        notes_token = post_form(api.url + "/token", {"grant_type": "client_credentials", "scope": "notes:read"},
                                basic(reader["client_id"], reader["client_secret"]))["access_token"]
        plan = [
            ("ceiling", "ceiling", ceiling, ceiling.url + "/", "get.lua", {}),
            ("cc", "client_credentials issuance (opaque, SQLite)", portcullis, portcullis.url + "/token",
             "form.lua", {"BENCH_BODY": cc_body, "BENCH_AUTH": auth}),
            ("introspect", "introspection of an opaque token", portcullis, portcullis.url + "/introspect",
             "form.lua", {"BENCH_BODY": f"token={token}&token_type_hint=access_token", "BENCH_AUTH": auth}),
            ("bearer", "GET /notes behind BearerLayer::local", api, api.url + "/notes", "get.lua",
             {"BENCH_AUTH": f"Bearer {notes_token}"}),
        ]
        if peer:
            plan.insert(2, ("peer_cc", "peer oidc-provider: client_credentials issuance", peer,
                            peer.url + "/token", "form.lua",
                            {"BENCH_BODY": f"grant_type=client_credentials&scope={urllib.parse.quote(SCOPE)}",
                             "BENCH_AUTH": basic(PEER_ID, PEER_SECRET)}))
        out = []
        for n in range(rounds):
            measured = {}
            for key, label, srv, target, script, env in plan:
                r = b.scenario(key, f"{label} (round {n + 1})", srv, 32, target, script, env, record=False,
                               warmup=warmup, duration=duration)
                measured[key] = {k: r[k] for k in ("rps", "p50_ms", "p99_ms", "errors", "server_cpu_us_per_request")}
                # What issuance left in the page cache is written back before the next row.
                os.sync()
            out.append(measured)
        return {"warmup_s": warmup, "duration_s": duration, "rounds": out}
    finally:
        for srv in servers:
            srv.stop()


def side_by_side_ratios(side):
    """Per round and median: issuance, introspection and BearerLayer GET over the round's
    ceiling; issuance over the round's oidc-provider issuance."""
    if not side:
        return {}
    pairs = {"cc_vs_ceiling": ("cc", "ceiling"), "cc_vs_peer": ("cc", "peer_cc"),
             "introspect_vs_ceiling": ("introspect", "ceiling"), "bearer_vs_ceiling": ("bearer", "ceiling")}
    out = {}
    for name, (num, den) in pairs.items():
        values = [ratio(r[num]["rps"], r[den]["rps"]) for r in side["rounds"] if num in r and den in r]
        values = [v for v in values if v is not None]
        if values:
            out[name] = {"rounds": values, "median": statistics.median(values)}
    return out


# -------------------------------------------------------------------------------- report


def ratio(x, y):
    return x / y if x is not None and y else None


def build_report(b, ceilings, idle, meta, side=None):
    rows = b.rows
    by_key = {(r["key"], r["connections"]): r for r in rows}
    for r in rows:
        c = ceilings.get(r["connections"])
        r["ceiling"] = {
            "rps": ratio(r["rps"], c and c["rps"]),
            "p50": ratio(r["p50_ms"], c and c["p50_ms"]),
            "p99": ratio(r["p99_ms"], c and c["p99_ms"]),
            "peak_rss": ratio(r["peak_rss"], c and c["peak_rss"]),
            "cpu": ratio(r["server_cpu_us_per_request"], c and c["server_cpu_us_per_request"]),
        }
        peer = by_key.get(("peer_" + r["key"], r["connections"]))
        r["vs_peer"] = ratio(r["rps"], peer and peer["rps"]) if not r["key"].startswith("peer") else None
        if r["key"] == "jwt":
            cc = by_key.get(("cc", r["connections"]))
            r["vs_opaque"] = ratio(r["rps"], cc and cc["rps"])
            r["vs_opaque_cpu"] = ratio(cc and cc["server_cpu_us_per_request"], r["server_cpu_us_per_request"])
        if r["key"].startswith("scale_"):
            # The same request on an empty database, measured just before (scale_scenarios); in
            # results from before it was, the portcullis group's row.
            base = r.get("empty_adjacent") or by_key.get(
                (r["group"] if r["group"] != "distinct" else "distinct_small", r["connections"]))
            r["vs_empty"] = ratio(r["rps"], base and base["rps"])
            # The same comparison in server CPU per request, which other load moves far less.
            r["vs_empty_cpu"] = ratio(base and base["server_cpu_us_per_request"], r["server_cpu_us_per_request"])
    side_ratios = side_by_side_ratios(side)
    return {"meta": meta, "ceiling": ceilings, "rows": rows, "idle": idle, "side_by_side": side,
            "side_by_side_ratios": side_ratios, "targets": targets(by_key, idle, side_ratios)}


def targets(by_key, idle=None, side=None):
    def get(k, c=32):
        return by_key.get((k, c))

    out = []
    side = side or {}

    def check(name, value, ok, shown):
        out.append({"target": name, "value": value, "met": ok if value is not None else None, "shown": shown})

    def ratio_target(name, side_key, row_value, threshold, unit=""):
        """Judged by the side-by-side rounds' median when they ran (the table row's ratio, to a
        ceiling or peer measured minutes away, shown after it); by the table row otherwise."""
        spec = ".1f" if unit else ".2f"
        row_shown = f"{row_value:{spec}}{unit}" if row_value is not None else "n/a"
        if side_key in side:
            m = side[side_key]["median"]
            check(name, m, m >= threshold, f"{m:{spec}}{unit} (rows {row_shown})")
        else:
            check(name, row_value, (row_value or 0) >= threshold, row_shown)

    cc, i, g = get("cc"), get("introspect"), get("bearer")
    if cc or "cc_vs_ceiling" in side:
        ratio_target("issuance >= 0.30 x ceiling (c=32)", "cc_vs_ceiling", cc and cc["ceiling"]["rps"], 0.30)
    if cc or "cc_vs_peer" in side:
        ratio_target("issuance >= 10 x oidc-provider (c=32)", "cc_vs_peer", cc and cc["vs_peer"], 10, "x")
    if cc:
        check("issuance p99 < 5 ms (c=32)", cc["p99_ms"], cc["p99_ms"] < 5, f"{cc['p99_ms']:.2f} ms")
    if i or "introspect_vs_ceiling" in side:
        ratio_target("introspection >= 0.5 x ceiling (c=32)", "introspect_vs_ceiling", i and i["ceiling"]["rps"], 0.5)
    if g or "bearer_vs_ceiling" in side:
        ratio_target("BearerLayer GET >= 0.7 x ceiling (c=32)", "bearer_vs_ceiling", g and g["ceiling"]["rps"], 0.7)
    for k in ("scale_cc", "scale_introspect", "scale_distinct"):
        s = get(k)
        if s:
            check(f"{k}: 1M live tokens >= 0.8 x empty (c=32)", s.get("vs_empty"), (s.get("vs_empty") or 0) >= 0.8,
                  f"{s.get('vs_empty') or 0:.2f} (CPU {s.get('vs_empty_cpu') or 0:.2f})")
    peaks = [r["peak_rss"] for r in by_key.values() if r["server"].startswith("portcullis") or r["server"] == "api"]
    if peaks:
        m = max(p for p in peaks if p)
        check("peak RSS < 64 MiB (Portcullis servers)", m, m < 64 * 1048576, f"{fmt_mib(m)} MiB")
    # "A server that is idle after load returns memory": each Portcullis server's resident
    # memory after the idle wait, against its highest peak during its rows. What stays is
    # SQLite's page caches and the read cache, kept on purpose (bench/README.md).
    pairs = []
    for name, v in (idle or {}).items():
        if not (name.startswith("portcullis") or name == "api"):
            continue
        peak = max((r["peak_rss"] or 0 for r in by_key.values() if r["server"] == name), default=0)
        if peak and v.get("rss_idle_after_load"):
            pairs.append((name, peak, v["rss_idle_after_load"]))
    if pairs:
        check("idle after load below the peak (Portcullis servers)", [list(p) for p in pairs],
              all(i < p for _, p, i in pairs),
              ", ".join(f"{n} {fmt_mib(p)}->{fmt_mib(i)}" for n, p, i in pairs))
    return out


def render(report):
    rows = report["rows"]
    hdr = (f"{'scenario':<66} {'conn':>4} {'req/s':>9} {'×ceil':>6} {'p50 ms':>8} {'×ceil':>6} "
           f"{'p99 ms':>8} {'×ceil':>6} {'errors':>6} {'RSS MiB':>8} {'×ceil':>6} {'CPU µs':>7} {'×ceil':>6} "
           f"{'vs peer':>8} {'vs empty':>8} {'(CPU)':>6}")
    lines = [hdr, "-" * len(hdr)]

    def f(v, spec, none="-"):
        return format(v, spec) if v is not None else none

    order = ["ceiling_start", "ceiling_end", "cc", "peer_cc", "jwt", "introspect", "peer_introspect", "bearer",
             "refresh", "code", "cc_argon2", "pg_cc", "pg_introspect", "pg_refresh", "scale_cc", "scale_introspect", "distinct_small", "scale_distinct"]
    rank = {k: n for n, k in enumerate(order)}
    for r in sorted(rows, key=lambda r: (rank.get(r["key"], 99), r["connections"])):
        cr = r["ceiling"]
        errs = str(r["errors"]) + ("*" if r.get("exhausted_threads") else "")
        lines.append(
            f"{r['scenario'][:66]:<66} {r['connections']:>4} {r['rps']:>9.0f} {f(cr['rps'], '.2f'):>6} "
            f"{r['p50_ms']:>8.2f} {f(cr['p50'], '.1f'):>6} {r['p99_ms']:>8.2f} {f(cr['p99'], '.1f'):>6} "
            f"{errs:>6} {fmt_mib(r['peak_rss']):>8} {f(cr['peak_rss'], '.1f'):>6} "
            f"{f(r['server_cpu_us_per_request'], '.0f'):>7} {f(cr['cpu'], '.1f'):>6} "
            f"{f(r.get('vs_peer'), '.1f'):>8} {f(r.get('vs_empty'), '.2f'):>8} {f(r.get('vs_empty_cpu'), '.2f'):>6}"
        )
    lines.append("")
    lines.append("×ceil: ratio to the ceiling at the same connection count (req/s: higher is better; "
                 "latency and RSS: how many times the ceiling's). RSS: the server's peak (VmHWM) during the row.")
    lines.append("CPU µs: the server's CPU time (all threads, user + system) per request during the measured "
                 "run; unlike req/s it hardly depends on what else the machine is doing.")
    lines.append("vs peer: req/s over oidc-provider's in the same scenario. vs empty: req/s over the same "
                 "request's, measured just before on a server whose database is empty (holds just the known "
                 "tokens, for the random-token row); (CPU): the same as the inverse ratio of CPU µs per request.")
    lines.append("* a thread ran out of pre-minted inputs.")
    jwt = [r for r in sorted(rows, key=lambda r: r["connections"]) if r["key"] == "jwt" and r.get("vs_opaque")]
    if jwt:
        lines.append("JWT over opaque issuance (req/s; CPU as the inverse ratio of CPU µs per request): " + ", ".join(
            f"c={r['connections']} {r['vs_opaque']:.2f} (CPU {f(r.get('vs_opaque_cpu'), '.2f')})" for r in jwt))
    stolen = [r for r in rows if (r.get("steal_pct") or 0) >= 1]
    if stolen:
        lines.append("Steal (the machine's CPU time the hypervisor gave to other guests) of 1 % or more during: "
                     + ", ".join(f"{r['key']} c={r['connections']} {r['steal_pct']:.0f} %" for r in stolen))
    idle = report["idle"]
    lines.append("Idle after load: " + ", ".join(
        f"{k} {fmt_mib(v.get('rss_idle_after_load'))} MiB" for k, v in idle.items()))
    side = report.get("side_by_side")
    if side:
        lines.append("")
        lines.append(f"Side by side: {len(side['rounds'])} rounds at 32 connections, every server up, each row "
                     f"{side['warmup_s']} s warm-up + {side['duration_s']} s, ratios within each round:")
        keys = [k for k in ("ceiling", "cc", "peer_cc", "introspect", "bearer") if k in side["rounds"][0]]
        lines.append("  round " + " ".join(f"{k + ' req/s (µs)':>22}" for k in keys)
                     + f" {'cc/ceil':>8} {'cc/peer':>8} {'intr/ceil':>9} {'GET/ceil':>9}")
        for n, r in enumerate(side["rounds"]):
            cells = " ".join(f"{r[k]['rps']:>14.0f} ({f(r[k]['server_cpu_us_per_request'], '.0f'):>4})  " for k in keys)

            def q(num, den, r=r):
                return f(ratio(r[num]["rps"], r[den]["rps"]) if num in r and den in r else None, ".2f")
            lines.append(f"  {n + 1:>5} {cells} {q('cc', 'ceiling'):>8} {q('cc', 'peer_cc'):>8} "
                         f"{q('introspect', 'ceiling'):>9} {q('bearer', 'ceiling'):>9}")
        med = report.get("side_by_side_ratios", {})
        lines.append("  median " + ", ".join(f"{k} {v['median']:.2f}" for k, v in med.items()))
    lines.append("")
    lines.append("Targets (ratios from this run; those to the ceiling or the peer from the side-by-side rounds "
                 "when they ran, the table rows' in parentheses):")
    for t in report["targets"]:
        mark = "met" if t["met"] else ("NOT met" if t["met"] is not None else "not measured")
        lines.append(f"  {t['target']:<48} {t['shown']:>20}  {mark}")
    m = report["meta"]
    lines.append("")
    lines.append(f"{m['date']} commit {m['commit']} · {m['cpus']} CPUs · load {m['load_before']} before, "
                 f"{m['load_after']} after · warm-up {m['warmup_s']} s + {m['duration_s']} s per row · "
                 f"wrk and the servers share the machine")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 s warm-up + 3 s per row, 100k scale tokens")
    p.add_argument("--warmup", type=int, default=None, help="whole seconds of warm-up per row (default 5)")
    p.add_argument("--duration", type=int, default=None, help="whole measured seconds per row (default 10; wrk takes whole seconds)")
    p.add_argument("--scale-tokens", type=int, default=None, help="live tokens in the scale database (1,000,000)")
    p.add_argument("--known", type=int, default=100_000, help="seeded tokens the distinct-introspection rows draw from")
    p.add_argument("--skip-peer", action="store_true", help="do not run oidc-provider")
    p.add_argument("--rounds", type=int, default=3,
                   help="side-by-side rounds for the targets' ratios (default 3; 0: none, the table rows decide)")
    p.add_argument("--skip-scale", action="store_true", help="do not run the 1M-token rows")
    p.add_argument("--only", default="",
                   help="comma list of groups: ceiling,portcullis,jwt,api,peer,scale,postgres,side (default all); "
                        "portcullis includes jwt (the JWT access token rows, a server of their own)")
    p.add_argument("--postgres-url", default="",
                   help="also run the PostgreSQL rows on this server (an admin URL with CREATEDB, as "
                        "`.ci/postgres start` prints; `bench/run --postgres` starts that cluster)")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="where results are written")
    p.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    a = p.parse_args()
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 5)
    a.duration = a.duration if a.duration is not None else (3 if a.quick else 10)
    a.scale_tokens = a.scale_tokens if a.scale_tokens is not None else (100_000 if a.quick else 1_000_000)
    a.known = min(a.known, a.scale_tokens, 10_000 if a.quick else a.known)
    a.idle = 2 if a.quick else 5
    only = {g.strip() for g in a.only.split(",") if g.strip()} or set(GROUPS)
    unknown = only - set(GROUPS)
    if unknown:
        p.error(f"--only: unknown group(s) {', '.join(sorted(unknown))}; expected {','.join(GROUPS)}")
    if "portcullis" in only:
        only.add("jwt")
    if a.skip_peer:
        only.discard("peer")
    if a.skip_scale:
        only.discard("scale")
    if not a.postgres_url:
        if a.only and "postgres" in only:
            p.error("--only postgres needs --postgres-url (or bench/run --postgres)")
        only.discard("postgres")
    a.skip_scale = "scale" not in only
    conns = [1, 32]

    workdir = tempfile.mkdtemp(prefix="portcullis-bench-")
    log(f"work directory {workdir}")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit + ("+dirty" if dirty else ""),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "warmup_s": a.warmup,
        "duration_s": a.duration,
        "scale_tokens": a.scale_tokens,
        "known_tokens": a.known,
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0:1],
    }
    b = Bench(a, workdir)
    idle = {}
    side = None
    rates = {}
    try:
        if "ceiling" in only:
            idle.update(ceiling_scenarios(b, conns, "ceiling_start"))
        if "portcullis" in only:
            i, rates = portcullis_scenarios(b, conns)
            idle.update(i)
        if "jwt" in only:
            idle.update(jwt_scenarios(b, conns))
        if "api" in only:
            idle.update(api_scenarios(b, conns))
        if "peer" in only:
            meta["node"] = run(["node", "--version"]).strip()
            idle.update(peer_scenarios(b, conns))
        if "scale" in only:
            idle.update(scale_scenarios(b))
        if "postgres" in only:
            idle.update(postgres_scenarios(b, conns, a.postgres_url))
        if "side" in only and a.rounds > 0:
            side = side_by_side(b, a.rounds, "peer" in only)
        if "ceiling" in only:
            idle.update(ceiling_scenarios(b, conns, "ceiling_end"))
    finally:
        if not a.keep:
            subprocess.run(["rm", "-rf", workdir])
    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # The ceiling is the better of its two measurements (start and end of the run), so every
    # ratio is conservative.
    ceilings = {}
    for r in b.rows:
        if r["group"] == "ceiling":
            cur = ceilings.get(r["connections"])
            if cur is None or r["rps"] > cur["rps"]:
                ceilings[r["connections"]] = {
                    k: r[k] for k in ("rps", "p50_ms", "p99_ms", "peak_rss", "server_cpu_us_per_request", "key")
                }
    report = build_report(b, ceilings, idle, meta, side)
    table = render(report)
    print(table)
    os.makedirs(a.out, exist_ok=True)
    stamp = meta["date"].replace(":", "").replace("-", "")
    with open(os.path.join(a.out, f"{stamp}.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(a.out, f"{stamp}.txt"), "w") as f:
        f.write(table + "\n")
    log(f"results in {os.path.join(a.out, stamp)}.json and .txt")


if __name__ == "__main__":
    main()
