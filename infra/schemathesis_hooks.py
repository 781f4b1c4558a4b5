"""Loaded by schemathesis in `make test` (SCHEMATHESIS_HOOKS): works around a CPython 3.11.7
fault, not a finding about the API.

Hypothesis names a filter in its reprs by parsing the source of the lambda's module. Deep
inside schemathesis's coverage phase, that parse can fail on CPython 3.11.7 with
`SystemError: AST constructor recursion depth mismatch`, which ends the operation's tests
as a runtime error. The name is only a description, so it falls back to hypothesis's own
one for a lambda it cannot find.
"""

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _describe_or_not(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _describe_or_not
