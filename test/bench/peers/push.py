#!/usr/bin/env python3
"""The typical Power BI push script: read a JSON lines file, POST it in chunks of 10,000 rows,
sleep on Retry-After when throttled. Python standard library only. No checkpoint: a rerun sends
the file again from the start.

usage: push.py ROWS_URL TOKEN FILE.jsonl
prints: rows=<n> posts=<n> throttles=<n> seconds=<s>
"""
import json
import sys
import time
import urllib.error
import urllib.request

CHUNK = 10000


def post(url, token, rows):
    body = json.dumps({"rows": rows}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()


def main():
    url, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
    start = time.monotonic()
    sent = posts = throttles = 0
    with open(path) as f:
        chunk = []
        lines = iter(f)
        while True:
            line = next(lines, None)
            if line is not None and line.strip():
                chunk.append(json.loads(line))
            if len(chunk) < CHUNK and line is not None:
                continue
            while chunk:
                try:
                    post(url, token, chunk)
                    posts += 1
                    sent += len(chunk)
                    chunk = []
                except urllib.error.HTTPError as e:
                    if e.code != 429:
                        raise
                    throttles += 1
                    time.sleep(float(e.headers.get("Retry-After", "1")))
            if line is None:
                break
    print("rows=%d posts=%d throttles=%d seconds=%.3f" % (sent, posts, throttles, time.monotonic() - start))


if __name__ == "__main__":
    main()
