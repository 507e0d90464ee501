#!/usr/bin/env python3
"""Bytes written to storage per logged private message, for candidate history layouts.

    python3 bench/history_layouts.py [--messages N] [--prefill N] [--convs N]

Replays the write pattern of `chatd-bench pairs` against a real SQLite database in
WAL mode (page size 4096, synchronous=NORMAL, the default autocheckpoint), once per
layout and commit size, and reports the bytes the process caused to be written
(`write_bytes` of /proc/self/io, which counts each page of the database and the WAL
when it is dirtied, so checkpoints are included) divided by the messages logged.
A final `wal_checkpoint(TRUNCATE)` is counted too, so nothing written to the WAL
escapes being copied into the database.

Commit sizes: a group commit per loop pass carries about 20 messages at 20,000
messages/s and about 1,000 at the maximum rate; 1,000 is also what a 50 ms
batching window gives at 20,000/s.

Layouts:
  current     the schema of migration 4: conversation, party_a and party_b as text,
              an index on each
  interned    conversations interned to an integer id; one (conv_id, id) index
  clustered   interned, and the table itself WITHOUT ROWID ordered by (conv_id, id)
  append      interned, no index maintained per commit: (conv_id, id) pairs go to a
              separate WITHOUT ROWID index table in sorted batches of --index-batch
  lean        append, without the columns a direct message can do without: the
              time (it is the id shifted right by 16) and the target (the other
              party of the conversation)
"""

import argparse
import os
import random
import sqlite3
import tempfile
import time


def write_bytes():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise SystemExit("no write_bytes in /proc/self/io")


SCHEMAS = {
    "current": """
        CREATE TABLE messages (id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,
            kind INTEGER NOT NULL, source TEXT NOT NULL, account TEXT, target TEXT NOT NULL,
            conv TEXT NOT NULL, party_a TEXT, party_b TEXT, text TEXT NOT NULL,
            incarnation INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX messages_conv ON messages (conv, id);
        CREATE INDEX messages_party_a ON messages (party_a, id) WHERE party_a IS NOT NULL;
        CREATE INDEX messages_party_b ON messages (party_b, id) WHERE party_b IS NOT NULL;
    """,
    "interned": """
        CREATE TABLE messages (id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,
            kind INTEGER NOT NULL, conv INTEGER NOT NULL, source TEXT NOT NULL,
            account TEXT, target TEXT NOT NULL, text TEXT NOT NULL);
        CREATE INDEX messages_conv ON messages (conv, id);
    """,
    "clustered": """
        CREATE TABLE messages (conv INTEGER NOT NULL, id INTEGER NOT NULL,
            time_ms INTEGER NOT NULL, kind INTEGER NOT NULL, source TEXT NOT NULL,
            account TEXT, target TEXT NOT NULL, text TEXT NOT NULL,
            PRIMARY KEY (conv, id)) WITHOUT ROWID;
    """,
    "lean": """
        CREATE TABLE messages (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
            conv INTEGER NOT NULL, source TEXT NOT NULL, account TEXT, text TEXT NOT NULL);
        CREATE TABLE conv_index (conv INTEGER NOT NULL, id INTEGER NOT NULL,
            PRIMARY KEY (conv, id)) WITHOUT ROWID;
    """,
    "append": """
        CREATE TABLE messages (id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,
            kind INTEGER NOT NULL, conv INTEGER NOT NULL, source TEXT NOT NULL,
            account TEXT, target TEXT NOT NULL, text TEXT NOT NULL);
        CREATE TABLE conv_index (conv INTEGER NOT NULL, id INTEGER NOT NULL,
            PRIMARY KEY (conv, id)) WITHOUT ROWID;
    """,
}


class Writer:
    def __init__(self, layout, path, index_batch):
        self.layout = layout
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMAS[layout])
        self.pending = []
        self.index_batch = index_batch

    def insert(self, rows):
        db = self.db
        db.execute("BEGIN")
        if self.layout == "current":
            db.executemany(
                "INSERT INTO messages (id, time_ms, kind, source, account, target, conv,"
                " party_a, party_b, text) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (i, t, 0, src, None, tgt, f"n:{a}|n:{b}", f"n:{a}", f"n:{b}", text)
                    for (i, t, conv, a, b, src, tgt, text) in rows
                ],
            )
        elif self.layout in ("interned", "clustered"):
            db.executemany(
                "INSERT INTO messages (id, time_ms, kind, conv, source, account, target, text)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(i, t, 0, conv, src, None, tgt, text) for (i, t, conv, a, b, src, tgt, text) in rows],
            )
        else:
            if self.layout == "lean":
                db.executemany(
                    "INSERT INTO messages (id, kind, conv, source, account, text)"
                    " VALUES (?,?,?,?,?,?)",
                    [(i, 0, conv, src, None, text) for (i, t, conv, a, b, src, tgt, text) in rows],
                )
            else:
                db.executemany(
                    "INSERT INTO messages (id, time_ms, kind, conv, source, account, target,"
                    " text) VALUES (?,?,?,?,?,?,?,?)",
                    [(i, t, 0, conv, src, None, tgt, text) for (i, t, conv, a, b, src, tgt, text) in rows],
                )
            self.pending.extend((conv, i) for (i, t, conv, *_rest) in rows)
            if len(self.pending) >= self.index_batch:
                self.flush_index()
        db.execute("COMMIT")

    def flush_index(self):
        self.pending.sort()
        self.db.executemany("INSERT INTO conv_index (conv, id) VALUES (?,?)", self.pending)
        self.pending = []

    def finish(self):
        if self.layout in ("append", "lean") and self.pending:
            self.db.execute("BEGIN")
            self.flush_index()
            self.db.execute("COMMIT")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()


def messages(n, convs, start_id, rng):
    """Rows as chatd logs them for `pairs`: random conversation, both directions."""
    for k in range(n):
        conv = rng.randrange(convs)
        a, b = f"bench{2 * conv}", f"bench{2 * conv + 1}"
        if rng.random() < 0.5:
            a, b = b, a
        t = 1_764_000_000_000 + (start_id + k) // 20
        i = t << 16 | k & 0xFFFF
        src = f"{a}!~{a}@127.0.0.1"
        text = f"b {a} {k} {time.monotonic_ns()}"
        yield (i, t, conv, a, b, src, b, text)


def run(layout, commit, n, prefill, convs, index_batch):
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        w = Writer(layout, os.path.join(d, "h.db"), index_batch)
        next_id = 1
        batch = []
        for row in messages(prefill, convs, next_id, rng):
            batch.append(row)
            if len(batch) == 5000:
                w.insert(batch)
                batch = []
        if batch:
            w.insert(batch)
        if layout in ("append", "lean"):
            w.db.execute("BEGIN")
            w.flush_index()
            w.db.execute("COMMIT")
        w.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        next_id += prefill
        before = write_bytes()
        t0 = time.process_time()
        batch = []
        for row in messages(n, convs, next_id, rng):
            batch.append(row)
            if len(batch) == commit:
                w.insert(batch)
                batch = []
        if batch:
            w.insert(batch)
        w.finish()
        cpu = time.process_time() - t0
        return (write_bytes() - before) / n, cpu / n * 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--prefill", type=int, default=0)
    p.add_argument("--convs", type=int, default=500)
    p.add_argument("--index-batch", type=int, default=100_000)
    p.add_argument("--layouts", default="current,interned,clustered,append,lean")
    p.add_argument("--commits", default="20,1000")
    a = p.parse_args()
    print(
        f"{a.messages:,} messages over {a.convs} conversations, {a.prefill:,} already "
        f"logged, SQLite {sqlite3.sqlite_version}, append index batch {a.index_batch:,}\n"
    )
    print("| layout | messages per commit | bytes written per message | CPU µs per message |")
    print("|---|---|---|---|")
    for layout in a.layouts.split(","):
        for commit in map(int, a.commits.split(",")):
            per, cpu = run(layout, commit, a.messages, a.prefill, a.convs, a.index_batch)
            print(f"| {layout} | {commit:,} | {per:,.0f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
