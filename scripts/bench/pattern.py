#!/usr/bin/env python3
"""A server's CPU time per request under a browser's request pattern, without a browser.

Chromium keeps 6 connections per host and sends one request at a time on each; between two
image requests on a connection it waits on the object store. This client does the same: C
keep-alive connections, each sending GET <url>, reading the response (a 303 is not followed),
then pausing GAP_MS, N requests in all. It reports the CPU time the server process spent per
request (sum of /proc/<pid>/task/*/schedstat) and how many times its threads were scheduled.

    python3 scripts/bench/pattern.py http://127.0.0.1:9090/r/<token> <server pid>
    N=600 C=6 GAP_MS=30 python3 scripts/bench/pattern.py URL PID    # the defaults
"""
import glob
import http.client
import os
import sys
import threading
import time
import urllib.parse


def schedstat(pid):
    """(on-CPU ns, timeslices) summed over the threads of `pid`."""
    cpu = slices = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            fields = open(f).read().split()
        except OSError:
            continue  # a thread that just ended
        cpu, slices = cpu + int(fields[0]), slices + int(fields[2])
    return cpu, slices


def main():
    url, pid = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2])
    n, c, gap = int(os.environ.get("N", 600)), int(os.environ.get("C", 6)), float(os.environ.get("GAP_MS", 30)) / 1000
    path = url.path + (f"?{url.query}" if url.query else "")

    # An exception in a thread would only end that thread: each one counts the requests it
    # completed and records what stopped it, for main to report after join.
    completed = [0] * c
    errors = []

    def client(i):
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port)
            for _ in range(n // c):
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status >= 400:
                    raise RuntimeError(f"{resp.status} from {sys.argv[1]}")
                completed[i] += 1
                time.sleep(gap)
            conn.close()
        except Exception as e:  # reported after join
            errors.append(f"connection {i}: {e!r}")

    client_once = http.client.HTTPConnection(url.hostname, url.port)  # warm the server's caches
    client_once.request("GET", path)
    client_once.getresponse().read()
    client_once.close()
    time.sleep(0.3)
    (cpu0, slices0), t0 = schedstat(pid), time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, (cpu1, slices1) = time.time() - t0, schedstat(pid)
    done = sum(completed)
    if done == 0:
        sys.exit("pattern.py: no request completed" + "".join(f"\n  {e}" for e in errors))
    print(f"{done} requests on {c} connections, {gap * 1000:g} ms apart, in {elapsed:.2f} s: "
          f"server CPU {(cpu1 - cpu0) / 1e3 / done:.1f} us/request, "
          f"{(slices1 - slices0) / done:.2f} timeslices/request")
    if errors:
        sys.exit(f"pattern.py: {len(errors)} of {c} connections failed:" + "".join(f"\n  {e}" for e in errors))


if __name__ == "__main__":
    main()
