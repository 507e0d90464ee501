#!/usr/bin/env python3
"""Read side of history: CHATHISTORY/HISTORY answer times for a private conversation
with a large history already in the database.

    python3 bench/history_read.py --chatd target/release/chatd [--messages N] [--noise N]

Starts the given chatd on a fresh data dir, registers the accounts alice and bob,
stops it, then writes --messages private messages between them and --noise messages
spread over 500 other conversations straight into the SQLite file (interleaved by
id, one message per millisecond, as if logged over the last hours), in the layout
of the database's schema version (8: the text `conv` key with `messages_conv`;
9: interned conversations with `messages_by_conv`). It starts chatd again, logs in
as alice and times --requests of each query, one at a time, from the line sent to
the end of its batch, and prints the median and p99 in milliseconds.
"""

import argparse
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time

PW = "benchpassword1"
CONF = """[server]
auto_join = []
[limits]
conns_per_ip = 100000
connects_per_ip_per_minute = 1000000
flood_burst = 1000000
flood_rate = 1000000
registrations_per_ip_per_hour = 1000000
exempt = []
[accounts]
pbkdf2_iterations = 1000
"""


class Irc:
    def __init__(self, port):
        for _ in range(200):
            try:
                self.s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("chatd did not start")
        self.buf = b""

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def until(self, pred):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.s.recv(1 << 16)
                if not data:
                    raise SystemExit("connection closed: " + repr(lines[-3:]))
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode()
            if line.startswith("PING"):
                self.send("PONG" + line[4:])
            lines.append(line)
            if pred(line):
                return lines

    def register(self, nick, login=False):
        self.send("CAP LS 302")
        self.send("CAP REQ :batch server-time message-tags draft/chathistory")
        self.send("CAP END")
        if login:
            self.send(f"PASS {nick}:{PW}")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.until(lambda l: " 376 " in l or " 422 " in l)


def start(chatd, conf, port, data):
    return subprocess.Popen(
        [chatd, "--config", conf, "--listen", f"127.0.0.1:{port}", "--data-dir", data],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def prefill(path, n, noise):
    db = sqlite3.connect(path, isolation_level=None)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)
    total = n + noise
    t0 = int(time.time() * 1000) - total - 60_000
    mine = set(rng.sample(range(total), n))
    db.execute("BEGIN")
    if version >= 9:
        db.execute("INSERT INTO convs (key, incarnation, party_a, party_b) "
                   "VALUES ('a:1|a:2', 0, 'a:1', 'a:2')")
        for c in range(500):
            db.execute("INSERT INTO convs (key, incarnation, party_a, party_b) "
                       "VALUES (?, 0, ?, ?)", (f"n:x{c}|n:y{c}", f"n:x{c}", f"n:y{c}"))
        ids = dict(db.execute("SELECT key, id FROM convs"))
    else:
        db.execute("INSERT INTO conversations VALUES ('a:1|a:2', 'a:1', 'a:2')")
        for c in range(500):
            db.execute("INSERT INTO conversations VALUES (?, ?, ?)",
                       (f"n:x{c}|n:y{c}", f"n:x{c}", f"n:y{c}"))
    rows = []
    ours = []
    for k in range(total):
        t = t0 + k
        i = t << 16
        if k in mine:
            a, b = ("a:1", "a:2") if k % 2 else ("a:2", "a:1")
            src = "alice!~alice@127.0.0.1" if a == "a:1" else "bob!~bob@127.0.0.1"
            tgt = "bob" if a == "a:1" else "alice"
            key, acct = "a:1|a:2", ("alice" if a == "a:1" else "bob")
            ours.append(i)
        else:
            c = k % 500
            a, b, key, acct = f"n:x{c}", f"n:y{c}", f"n:x{c}|n:y{c}", None
            src, tgt = f"x{c}!~x@127.0.0.1", f"y{c}"
        text = f"message {k} " + "x" * 40
        if version >= 9:
            rows.append((i, ids[key], int(a > b), 0, t, src, acct, tgt, text))
        else:
            rows.append((i, t, 0, src, acct, tgt, key, a, b, text, 0))
        if len(rows) == 50_000:
            flush(db, version, rows)
            rows = []
    flush(db, version, rows)
    if version >= 9:
        db.execute("INSERT INTO messages_by_conv (conv, id) SELECT conv, id FROM messages "
                   "ORDER BY conv, id")
        db.execute("UPDATE history_state SET value = (SELECT max(id) FROM messages) "
                   "WHERE name = 'indexed_to'")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return version, ours


def flush(db, version, rows):
    if version >= 9:
        db.executemany("INSERT INTO messages (id, conv, dir, kind, time_ms, source, account, "
                       "target, text) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    else:
        db.executemany("INSERT INTO messages (id, time_ms, kind, source, account, target, conv, "
                       "party_a, party_b, text, incarnation) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chatd", required=True)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--noise", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--port", type=int, default=16667)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        conf = os.path.join(d, "chatd.toml")
        with open(conf, "w") as f:
            f.write(CONF)
        data = os.path.join(d, "data")
        srv = start(a.chatd, conf, a.port, data)
        for nick in ("alice", "bob"):
            c = Irc(a.port)
            c.register(nick)
            c.send(f"REGISTER {nick} * {PW}")
            c.until(lambda l: " 900 " in l)
            c.send("QUIT")
        stop(srv)
        t = time.time()
        version, ours = prefill(os.path.join(data, "chatd.db"), a.messages, a.noise)
        print(f"schema {version}: {a.messages:,} messages between alice and bob and "
              f"{a.noise:,} in 500 other conversations written in {time.time() - t:.0f} s")
        srv = start(a.chatd, conf, a.port, data)
        try:
            c = Irc(a.port)
            c.register("alice", login=True)
            rng = random.Random(1)
            queries = {
                "CHATHISTORY LATEST bob * 100": lambda: "CHATHISTORY LATEST bob * 100",
                "CHATHISTORY BEFORE bob msgid=<random> 100":
                    lambda: f"CHATHISTORY BEFORE bob msgid={rng.choice(ours):016x} 100",
                "HISTORY bob 100": lambda: "HISTORY bob 100",
            }
            for name, line in queries.items():
                times = []
                for _ in range(a.requests):
                    t = time.perf_counter()
                    c.send(line())
                    got = c.until(lambda l: l.split(" ")[1:2] == ["BATCH"] and " -" in l
                                  or " BATCH -" in l)
                    times.append((time.perf_counter() - t) * 1000)
                    n = sum(1 for l in got if " PRIVMSG " in l or " NOTICE " in l)
                    if n != 100:
                        raise SystemExit(f"{name}: {n} messages, not 100: {got[-3:]}")
                times.sort()
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                print(f"{name:45} median {statistics.median(times):6.2f} ms"
                      f"  p99 {p99:6.2f} ms  ({a.requests} requests)")
        finally:
            stop(srv)


if __name__ == "__main__":
    main()
