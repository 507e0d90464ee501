#!/usr/bin/env python3
"""The physical bound of durable logging on this machine's disk.

    python3 bench/fsync_bound.py [--dir DIR] [--seconds 3] [--record 200]

Appends records of --record bytes to a file in --dir (default: the current
directory, which should be on the disk chatd's data dir is on) and makes each
durable with fdatasync, for --seconds each:

  one record per fdatasync     what a message would cost if each were made durable
                               on its own (no group commit)
  1,000 records per fdatasync  a group commit's shape: what the disk can take in
                               records per second when many share one flush

and prints both, with the time of one fdatasync. Nothing else is measured: no
SQLite, no pages written twice; a store cannot do better than this.
"""

import argparse
import os
import tempfile
import time


def run(fd, record, per_sync, seconds):
    chunk = record * per_sync
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        os.write(fd, chunk)
        os.fdatasync(fd)
        n += 1
    elapsed = time.perf_counter() - start
    return n / elapsed, elapsed / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=".")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--record", type=int, default=200)
    args = ap.parse_args()
    record = b"x" * args.record
    with tempfile.NamedTemporaryFile(dir=args.dir, prefix="fsync-bound-") as f:
        fd = f.fileno()
        syncs, each = run(fd, record, 1, args.seconds)
        print(f"{args.record}-byte record + fdatasync: {syncs:,.0f} per second "
              f"({each * 1e3:.2f} ms each)")
        syncs, each = run(fd, record, 1000, args.seconds)
        print(f"1,000 records of {args.record} bytes per fdatasync: {syncs:,.0f} flushes "
              f"per second = {syncs * 1000:,.0f} records per second "
              f"({syncs * 1000 * args.record / 1e6:,.1f} MB/s)")


if __name__ == "__main__":
    main()
