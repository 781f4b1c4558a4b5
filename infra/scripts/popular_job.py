#!/usr/bin/env python3
"""A popular job, tried as a user would, against a running `make dev`.

    .venv/bin/python infra/scripts/popular_job.py [BASE_URL] [APPLICANTS] [IN_FLIGHT]

(defaults http://127.0.0.1:3000, 1000, 150). A new owner posts one job; APPLICANTS new
freelancers apply to it, IN_FLIGHT requests at a time, each with its own Idempotency-Key.
Reports the first tries (answers, applications/s, p50/p99/max), then sends every 503 again
with its key until answered, as a well-behaved client does, and checks the outcome: the job
lists exactly one application per applicant, and the owner's inbox holds one
`application_received` each at positions 1..APPLICANTS. Exits 1 if the outcome is wrong.
Only the standard library: it runs on any Python 3.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

# API Gateway's own limit on how long a request may take.
TIMEOUT_S = 30
# How long notify may take to deliver the last application_received after the burst.
INBOX_WAIT_S = 120


def call(method, url, token=None, body=None, key=None):
    """(status, parsed body) of one request; a lost connection is status 0."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    if key:
        headers["Idempotency-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except OSError:
        return 0, None


def token(base, user):
    status, body = call("POST", base + "/_local/token", body={"user": user})
    if status != 200:
        sys.exit(f"POST /_local/token answered {status}: is `make dev` running at {base}?")
    return body["token"]


def every_page(base, path, token):
    items, cursor = [], None
    while True:
        query = "?limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        status, body = call("GET", base + path + query, token)
        if status != 200:
            sys.exit(f"GET {path} answered {status}")
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def main():
    base = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000").rstrip("/")
    applicants = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    in_flight = int(sys.argv[3]) if len(sys.argv) > 3 else 150
    run = uuid.uuid4().hex[:8]
    owner = token(base, f"owner-{run}")
    status, job = call(
        "POST", base + "/jobs", owner, {"title": "A popular job", "budget_cents": 1000},
        key=str(uuid.uuid4()),
    )
    if status != 201:
        sys.exit(f"POST /jobs answered {status}: {job}")
    path = f"/jobs/{job['job_id']}/applications"
    with ThreadPoolExecutor(32) as pool:
        tokens = list(pool.map(lambda i: token(base, f"applicant-{run}-{i}"), range(applicants)))
    keys = [str(uuid.uuid4()) for _ in range(applicants)]

    def apply(i):
        started = time.monotonic()
        status, _ = call("POST", base + path, tokens[i], {"bid_cents": 500}, keys[i])
        return status, time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(in_flight) as pool:
        first = list(pool.map(apply, range(applicants)))
    wall = time.monotonic() - started
    answers = Counter(status for status, _ in first)
    waits = sorted(wait for _, wait in first)
    print(
        f"{applicants} applicants, {in_flight} in flight, one job: first tries "
        f"{dict(sorted(answers.items()))}, {answers[201] / applicants:.1%} answered 201; "
        f"{applicants / wall:.0f} applications/s; p50 {waits[len(waits) // 2]:.2f} s, "
        f"p99 {waits[int(len(waits) * 0.99)]:.2f} s, max {waits[-1]:.2f} s"
    )

    # Everything not yet answered 201 is sent again with its key until it is.
    retried = replayed = 0
    for i, (status, _) in enumerate(first):
        for _ in range(20):
            if status == 201:
                break
            time.sleep(1)
            retried += 1
            status, _ = call("POST", base + path, tokens[i], {"bid_cents": 500}, keys[i])
            replayed += status == 201
        if status != 201:
            sys.exit(f"applicant {i} never got a 201 (last {status})")
    if retried:
        print(f"retried {retried} times with their keys; {replayed} answered 201")

    wrong = []
    listed = every_page(base, path, owner)
    if len(listed) != applicants or len({a["application_id"] for a in listed}) != applicants:
        wrong.append(f"the job lists {len(listed)} applications, not {applicants}")
    deadline = time.monotonic() + INBOX_WAIT_S
    while True:
        inbox = every_page(base, "/me/notifications", owner)
        if len(inbox) >= applicants or time.monotonic() > deadline:
            break
        time.sleep(2)
    kinds = Counter(n["type"] for n in inbox)
    positions = sorted(n["position"] for n in inbox)
    if kinds != Counter({"application_received": applicants}):
        wrong.append(f"the owner's inbox holds {dict(kinds)}")
    if positions != list(range(1, len(positions) + 1)):
        wrong.append("the owner's inbox positions have a gap or a repeat")
    print(
        f"the job lists {len(listed)} applications; the owner's inbox holds "
        f"{dict(kinds)} at positions 1..{positions[-1] if positions else 0}"
    )
    for line in wrong:
        print("WRONG:", line)
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
