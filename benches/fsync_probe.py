#!/usr/bin/env python3
"""What one durable commit's flush costs on this disk, by how long the disk sat idle before it.

Writes 16 KiB (about the four pages of WAL frames of a small commit) into a preallocated file
and times the `fdatasync` (SQLite's own build here calls `fsync`; both are measured), with a
pause between rounds as the daemon meets between requests. BENCHMARKS.md, "fourth pass".

The last rows split one flush in two: `fdatasync` of a file with nothing dirty (the device's
cache flush alone) against the same call after the write (the pages written and waited for,
then the cache flush); the difference is the write's own round trip. BENCHMARKS.md, "tenth
pass".

    python3 benches/fsync_probe.py [DIRECTORY]      (default: the system's temporary directory)
"""
import os
import statistics
import sys
import tempfile
import time

ROUNDS = 60
SIZE = 16 * 1024


def probe(fd, sync, pause):
    times = []
    for i in range(ROUNDS):
        os.pwrite(fd, b"x" * SIZE, (i * SIZE) % (1 << 20))
        start = time.perf_counter()
        sync(fd)
        times.append(time.perf_counter() - start)
        if pause:
            time.sleep(pause)
    return median_and_p90(times)


def flush_only(fd, dirty):
    """`fdatasync` after a 50 ms pause, with or without 16 KiB written first."""
    times = []
    for i in range(ROUNDS):
        os.fdatasync(fd)
        time.sleep(0.05)
        if dirty:
            os.pwrite(fd, b"y" * SIZE, (i * SIZE) % (1 << 20))
        start = time.perf_counter()
        os.fdatasync(fd)
        times.append(time.perf_counter() - start)
    return median_and_p90(times)


def median_and_p90(times):
    """Median and 90th percentile of `times` (seconds), in µs."""
    times = sorted(times)
    return statistics.median(times) * 1e6, times[int(len(times) * 0.9)] * 1e6


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
    with tempfile.NamedTemporaryFile(dir=directory) as f:
        fd = f.fileno()
        os.write(fd, b"\0" * (1 << 20))
        os.fsync(fd)
        print(f"{'pause':>8} {'call':>10} {'median':>9} {'p90':>9}")
        for pause in [0, 0.0005, 0.002, 0.01, 0.05]:
            for name, sync in [("fdatasync", os.fdatasync), ("fsync", os.fsync)]:
                median, p90 = probe(fd, sync, pause)
                print(f"{pause * 1000:6.1f}ms {name:>10} {median:7.0f}µs {p90:7.0f}µs")
        print()
        print(f"{'50 ms pause, then':<34} {'median':>9} {'p90':>9}")
        for label, dirty in [("write 16 KiB + fdatasync", True), ("fdatasync, nothing written", False)]:
            median, p90 = flush_only(fd, dirty)
            print(f"{label:<34} {median:7.0f}µs {p90:7.0f}µs")


if __name__ == "__main__":
    main()
