"""Loaded by schemathesis in `make test` (SCHEMATHESIS_HOOKS).

A case meant valid is made valid in what the contract says in words but JSON Schema cannot,
so that "valid data is accepted" holds it to 2xx (or a 403/404/409 about the state it meets)
with no exception for 400 or 422:

- a fresh `Idempotency-Key` for every call: the fuzzer draws short keys ("0", "a") again and
  again for different requests, which the API rightly answers with 422 (a key reused for
  another request). A drawn key the API must refuse (empty, too long, not printable ASCII)
  is sent as drawn. Replays with the same key are the black-box tests' to check
  (tests/api/idempotency.rs);
- a blank `cursor` for a drawn one: a cursor is valid only as the `next_cursor` this
  listing issued (signed), and the document links no `next_cursor` to it, so every cursor
  the fuzzer sends is drawn; a blank one is the first page, which valid data must get.
  Paging is the black-box tests' to check (tests/api/jobs.rs and the other listings);
- no `cursor` nor `unread=true` beside `after` (the inbox takes one way of paging at a time);
- a job's `expires_at` in the future and at most 90 days ahead, when the drawn one is not;
- a search of the board that the API must refuse for how its parameters combine, made one
  it accepts: no `status` other than `open` beside a search parameter, `min_budget` at most
  `max_budget`, a `q` with a word to search for (a drawn `q` is replaced: which drawn strings
  hold only stop words is the stemmer's to say), `relevance` only with a `q`; and a job's
  `skills` cut to ten distinct ones.

A negative case is sent as drawn: changing a case has schemathesis validate it again, and a
case with a header left out on purpose would lose what it tests.

And a work-around for a CPython 3.11.7 fault, not a finding about the API: Hypothesis names
a filter in its reprs by parsing the source of the lambda's module. Deep inside
schemathesis's coverage phase, that parse can fail on CPython 3.11.7 with `SystemError: AST
constructor recursion depth mismatch`, which ends the operation's tests as a runtime error.
The name is only a description, so it falls back to hypothesis's own one for a lambda it
cannot find.
"""

import re
import uuid
from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis.internal import lambda_sources

_VALID_KEY = re.compile(r"[ -~]{1,255}")
_MAX_AHEAD = timedelta(days=90)


def _valid_key(value):
    return isinstance(value, str) and _VALID_KEY.fullmatch(value) is not None


def _valid_deadline(value):
    if value is None:
        return True
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return False
    now = datetime.now(timezone.utc)
    return at.tzinfo is not None and now + timedelta(minutes=1) < at < now + _MAX_AHEAD


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return
    headers = dict(case.headers or {})
    for name, value in headers.items():
        if name.lower() == "idempotency-key" and _valid_key(value):
            headers[name] = f"st-{uuid.uuid4()}"
    if headers != (case.headers or {}):
        case.headers = headers

    query = dict(case.query or {})
    # A drawn cursor is never one a listing issued; a blank one is the first page.
    if "cursor" in query:
        query["cursor"] = ""
    if "after" in query and query.get("unread") in (True, "true"):
        del query["unread"]
    _searchable(query)
    if query != (case.query or {}):
        case.query = query

    body = case.body
    if isinstance(body, dict) and "expires_at" in body and not _valid_deadline(body["expires_at"]):
        later = datetime.now(timezone.utc) + timedelta(days=7)
        case.body = {**body, "expires_at": later.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if isinstance(case.body, dict) and "skills" in case.body:
        case.body = _distinct_skills(case.body)


_SEARCH = ("skill", "min_budget", "max_budget", "currency", "posted_after", "posted_before", "q", "sort")


def _searchable(query):
    """Makes a search of the board one whose parameters combine as the API accepts."""
    if any(name in query for name in _SEARCH) and query.get("status") not in (None, "open"):
        del query["status"]
    low, high = query.get("min_budget"), query.get("max_budget")
    try:
        if low is not None and high is not None and int(low) > int(high):
            query["min_budget"], query["max_budget"] = high, low
    except (TypeError, ValueError):
        pass
    if "q" in query or query.get("sort") == "relevance":
        query["q"] = "website"


def _distinct_skills(body):
    skills = body.get("skills")
    if not isinstance(skills, list):
        return body
    kept = []
    for skill in skills:
        key = skill.strip().lower() if isinstance(skill, str) else skill
        if key not in kept:
            kept.append(key)
    if len(kept) <= 10:
        return body
    return {**body, "skills": kept[:10]}


_describe = lambda_sources._lambda_description


def _describe_or_not(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _describe_or_not
