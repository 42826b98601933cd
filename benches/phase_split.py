#!/usr/bin/env python3
"""Where one inbound SMS's and one send's time goes, cut at the daemon's own system calls.

Runs the process bench (its executable is the argument: `cargo bench --no-run --bench process`
prints it) with one round of 150 samples per path, attaches `perf trace` (root, perf 6.x) to
the simgate daemon it starts, and splits each sample at three calls the daemon makes:

    inbound:  read of the `+CMT` URC  →  the commit's fsync  →  the webhook's writev
    send:     read of the API request →  the commit's fsync  →  the PDU written to the modem

and prints the median of each part: before the flush (the daemon's own work: parse, the
transaction's body, the WAL pages written), the flush itself, and after it (the hand-off to the
task that writes). `perf trace` adds a few microseconds to each traced call, so the parts read
a little high; the bench's own figures for the traced run are printed too.
BENCHMARKS.md, "tenth pass".

    python3 benches/phase_split.py target/release/deps/process-<hash>
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

CALLS = "read,recvfrom,write,writev,fsync"
LINE = re.compile(
    r"\s*(?P<t>[\d.]+) \(\s*(?P<d>[\d.]+)? ?(?:ms)?\): \S+/\d+ +"
    r"(?:(?P<name>\w+)\(fd: (?P<fd>\d+)[^)]*\)|\.\.\. \[continued\]: (?P<cont>\w+)\(\)\))"
    r"\s*(?:= (?P<ret>-?\d+))?"
)


def events(path):
    """(start ms, duration ms, call, fd, result) per finished call; a call that was
    interrupted in the listing is taken from its `[continued]` line."""
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LINE.match(line)
        if not m or m.group("ret") is None:
            continue
        name = m.group("name") or m.group("cont")
        fd = int(m.group("fd")) if m.group("fd") else None
        out.append((float(m.group("t")), float(m.group("d") or 0), name, fd, int(m.group("ret"))))
    out.sort(key=lambda e: e[0])
    return out


def split(evs, starts, ends, limit_ms=5.0):
    parts = []
    for i, (t, _, name, fd, ret) in enumerate(evs):
        if not starts(name, fd, ret):
            continue
        flush = end = None
        for later in evs[i + 1:]:
            if later[0] > t + limit_ms:
                break
            if flush is None and later[2] == "fsync":
                flush = later
            elif flush is not None and ends(*later[2:]):
                end = later
                break
        if flush and end:
            parts.append((flush[0] - t, flush[1], end[0] - (flush[0] + flush[1])))
    return parts


def main():
    bench = sys.argv[1]
    env = dict(os.environ, SIMGATE_BENCH_ROUNDS="1", SIMGATE_BENCH_INBOUND="150",
               SIMGATE_BENCH_SENDS="150")
    trace = tempfile.NamedTemporaryFile(suffix=".trace", delete=False).name
    run = subprocess.Popen([bench, "--bench"], env=env, stdout=subprocess.PIPE, text=True)
    daemon = None
    for _ in range(200):
        found = subprocess.run(["pgrep", "-f", "release/simgate run"], capture_output=True,
                               text=True).stdout.split()
        if found:
            daemon = found[0]
            break
        time.sleep(0.05)
    if daemon is None:
        run.kill()
        sys.exit("no simgate daemon appeared")
    time.sleep(4)  # its three idle seconds; the samples begin after them
    subprocess.run(["timeout", "20", "perf", "trace", "-p", daemon, "-e", CALLS, "-o", trace],
                   stderr=subprocess.DEVNULL)
    figures = [l for l in run.communicate()[0].splitlines() if l.startswith(("inbound:", "send:"))]
    evs = events(trace)
    # The virtual modem's `+CMT` with its PDU is 91 bytes on the pty; the API request 208 on
    # the socket; the webhook body and headers 961 bytes; the SMS-SUBMIT PDU line 45.
    inbound = split(evs, lambda n, fd, r: n == "read" and r == 91,
                    lambda n, fd, r: n == "writev" and r > 900)
    sends = split(evs, lambda n, fd, r: n == "recvfrom" and r > 200,
                  lambda n, fd, r: n == "write" and r == 45)
    print(f"{'path':<8} {'n':>4} {'before the flush':>17} {'flush':>8} {'after it':>9}  (medians, ms)")
    for label, parts in [("inbound", inbound), ("send", sends)]:
        if parts:
            cols = [statistics.median(p[k] for p in parts) for k in range(3)]
            print(f"{label:<8} {len(parts):>4} {cols[0]:>17.3f} {cols[1]:>8.3f} {cols[2]:>9.3f}")
    print("the bench, same run (traced):")
    for line in figures:
        print("  " + line)
    os.unlink(trace)


if __name__ == "__main__":
    main()
