#!/usr/bin/env python3
"""How fast history is read from a large database: CHATHISTORY on a conversation
with a million messages.

    python3 bench/history_read.py [--chatd target/release/chatd] [--messages 1000000]
                                  [--requests 200] [--data-dir DIR]

Starts the chatd binary on a free loopback port (history logging on, limits
relaxed as `chatd-bench --spawn` relaxes them), connects a reader that joins
`#bench0`, and fills that channel with `chatd-bench fanout --clients 2 --senders 1
--channel-size 2` until it holds --messages messages (the reader stays in the
channel, so it is one incarnation and the reader may read all of it). Then the
reader sends --requests requests of each kind, one at a time, and times each from
the request to the end of its batch:

  latest   CHATHISTORY LATEST #bench0 * 100          (the newest page)
  before   CHATHISTORY BEFORE #bench0 msgid=<m> 100  (a page at a random depth)
  around   CHATHISTORY AROUND #bench0 msgid=<m> 100
  between  CHATHISTORY BETWEEN #bench0 msgid=<a> msgid=<b> 100

and prints median, p99 and mean in milliseconds. The loop answers from the store
thread, so this is what a client waits for. With --data-dir the database is kept
(and reused: a second run with the same directory starts with the messages there,
but a restart begins a new incarnation of the channel, so fill again).
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

RELAXED = """
[server]
auto_join = []
[limits]
max_clients = 10000000
conns_per_ip = 10000000
connects_per_ip_per_minute = 10000000
members_per_channel = 10000000
flood_burst = 10000000
flood_rate = 10000000
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reader:
    def __init__(self, port):
        deadline = time.time() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.send("CAP REQ :batch server-time message-tags draft/chathistory")
        self.send("NICK reader")
        self.send("USER reader 0 * :reader")
        self.send("CAP END")
        self.until(lambda line: " 001 " in line)

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def lines(self):
        while True:
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                line = line.decode("utf-8", "replace")
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])
                    continue
                yield line
            data = self.sock.recv(1 << 20)
            if not data:
                raise SystemExit("the server closed the reader's connection")
            self.buf += data

    def until(self, done):
        got = []
        for line in self.lines():
            got.append(line)
            if done(line):
                return got

    def drain(self, stop):
        """Reads and drops what arrives until `stop` is set (the fill's messages,
        which would otherwise fill the reader's SendQ)."""
        self.sock.settimeout(0.2)
        while not stop.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            if not data:
                return
            self.buf += data
            *whole, self.buf = self.buf.split(b"\r\n")
            for line in whole:
                if line.startswith(b"PING "):
                    self.send("PONG " + line[5:].decode())
        self.sock.settimeout(60)

    def history(self, request):
        """Sends a CHATHISTORY request; returns (seconds, msgids) at the batch's end."""
        start = time.perf_counter()
        self.send(request)
        ids = []
        for line in self.lines():
            if line.startswith("@") and " PRIVMSG " in line:
                for tag in line[1:].split(" ", 1)[0].split(";"):
                    if tag.startswith("msgid="):
                        ids.append(tag[6:])
            elif " BATCH -" in line.split(" :", 1)[0] or line.startswith("BATCH -") or (
                " FAIL " in line or line.startswith("FAIL ")
            ):
                if " FAIL " in line or line.startswith("FAIL "):
                    raise SystemExit(f"{request}: {line}")
                return time.perf_counter() - start, ids


def count(db):
    out = subprocess.run(
        ["sqlite3", f"file:{db}?mode=ro", "SELECT count(*) FROM messages"],
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip() or 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chatd", default="target/release/chatd")
    ap.add_argument("--bench", default="target/release/chatd-bench")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--data-dir")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="history-read-")
    data = args.data_dir or os.path.join(tmp.name, "data")
    config = os.path.join(tmp.name, "chatd.toml")
    with open(config, "w") as f:
        f.write(RELAXED)
    port = free_port()
    log = open(os.path.join(tmp.name, "chatd.log"), "w")
    server = subprocess.Popen(
        [args.chatd, "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--config", config],
        stdout=log,
        stderr=log,
    )
    try:
        reader = Reader(port)
        reader.send("JOIN #bench0")
        reader.until(lambda line: " 366 " in line)
        db = os.path.join(data, "chatd.db")
        start = count(db)
        filled = 0
        t0 = time.time()
        stop = threading.Event()
        drainer = threading.Thread(target=reader.drain, args=(stop,))
        drainer.start()
        while count(db) - start < args.messages:
            left = args.messages - (count(db) - start)
            subprocess.run(
                [args.bench, "fanout", "--clients", "2", "--senders", "1", "--channel-size", "2",
                 "--rate", "max", "--duration", str(min(10, max(1, left // 50_000))),
                 "--addr", f"127.0.0.1:{port}",
                 "--server-pid", str(server.pid)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            filled = count(db) - start
            print(f"  filled {filled:,} messages", file=sys.stderr)
        stop.set()
        drainer.join()
        # Let the filling traffic reach the reader and the store first.
        reader.send("PING :filled")
        reader.until(lambda line: "filled" in line and "PONG" in line)
        fill_s = time.time() - t0

        _, newest = reader.history("CHATHISTORY LATEST #bench0 * 100")
        if not newest:
            raise SystemExit("LATEST returned nothing: is history logging on?")
        # Sample msgids at random depths: page backwards in big steps once.
        depth_ids = []
        cursor = newest[0]
        while len(depth_ids) < 50:
            _, page = reader.history(f"CHATHISTORY BEFORE #bench0 msgid={cursor} 100")
            if not page:
                break
            depth_ids.append(page[0])
            # Jump: the oldest of this page, then skip ahead with a BETWEEN-free guess.
            cursor = page[0]
            for _ in range(random.randint(0, 3)):
                _, page = reader.history(f"CHATHISTORY BEFORE #bench0 msgid={cursor} 100")
                if not page:
                    break
                cursor = page[0]
        if len(depth_ids) < 2:
            raise SystemExit("not enough history to sample")

        kinds = {
            "latest": lambda: "CHATHISTORY LATEST #bench0 * 100",
            "before": lambda: f"CHATHISTORY BEFORE #bench0 msgid={random.choice(depth_ids)} 100",
            "around": lambda: f"CHATHISTORY AROUND #bench0 msgid={random.choice(depth_ids)} 100",
            "between": lambda: "CHATHISTORY BETWEEN #bench0 msgid={} msgid={} 100".format(
                *sorted(random.sample(depth_ids, 2))
            ),
        }
        total = count(db)
        print(f"chatd {args.chatd}; {total:,} messages in the database "
              f"({filled:,} in #bench0, filled in {fill_s:.0f} s); {args.requests} requests each")
        print("| request | median, ms | p99, ms | mean, ms | messages per answer |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, make in kinds.items():
            times, sizes = [], []
            for _ in range(args.requests):
                secs, ids = reader.history(make())
                times.append(secs * 1000)
                sizes.append(len(ids))
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"| {name} | {statistics.median(times):.2f} | {p99:.2f} | "
                  f"{statistics.mean(times):.2f} | {statistics.mean(sizes):.0f} |")
        reader.send("QUIT")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
