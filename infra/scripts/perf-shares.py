#!/usr/bin/env python3
"""Shares of a `perf record --call-graph dwarf` profile of the local gateway, from
`perf script -F comm,tid,time,ip,sym,dso` on stdin: by what the process was doing (the
task a sample's stack belongs to) and by kind of work (the first frame from the leaf up
that names one; the allocator, memcpy and the standard library are charged to the code
that called them). BENCHMARKS.md, "Where the local gateway's CPU goes", reads it.

    perf script -i perf.data -F comm,tid,time,ip,sym,dso | infra/scripts/perf-shares.py
"""

import sys
from collections import Counter

# The task a stack belongs to: the first of these found anywhere in it.
ACTIVITIES = [
    ("the sweeper", ["shared::handlers::sweep", "worker::sweep_now", "worker::spawn_sweeper"]),
    ("requests: gateway, JWT, event, handler", ["local_gateway::gateway::", "hyper::proto::h1::dispatch::Server", "axum::"]),
    ("the pipe: stream reads, records to JSON, sends", ["local_gateway::pipe::"]),
    ("the pollers and notify", ["local_gateway::worker::", "shared::handlers::notify"]),
]

# Kinds of work, matched from the leaf up; the first frame that matches decides.
KINDS = [
    ("SigV4 signing (and its SHA-256)", ["aws_sigv4", "sha2::", "hmac::"]),
    ("logging (tracing's JSON lines)", ["tracing_subscriber", "tracing_core::field", "tracing_serde"]),
    ("JWT check (the local authorizer)", ["jsonwebtoken"]),
    ("SDK wire JSON (DynamoDB, SQS requests and answers)", ["aws_smithy_json", "protocol_serde", "serde_dynamo"]),
    ("serde_json (API Gateway events, stream records, bodies)", ["serde_json", "serde::"]),
    ("SDK orchestration (config, interceptors, endpoints, retries)", ["aws_smithy_runtime", "aws_smithy_types", "aws_smithy_http", "aws_smithy_async", "aws_sdk_", "aws_types", "aws_runtime", "aws_credential"]),
    ("TLS", ["rustls::conn", "rustls::client", "aws_lc"]),
    ("HTTP (hyper client and server, axum)", ["hyper", "http::", "httparse", "axum", "tower"]),
    ("tokio (scheduler, timers, I/O driver)", ["tokio::"]),
    ("the pipe's own code (filter, records)", ["local_gateway::pipe", "local_gateway::filter"]),
    ("the handlers and domain (shared)", ["shared::", "lambda_http", "aws_lambda_events"]),
    ("the gateway's own code", ["local_gateway::"]),
]

# Frames that only serve their caller: skipped when looking for a kind.
GENERIC = ["libc.so", "alloc::", "core::", "std::", "[unknown]", "hashbrown", "<alloc", "<core", "<std"]


def samples(lines):
    frames = None
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if frames is not None:
                yield frames
            frames = None
        elif not line[0].isspace():
            frames = []
        elif frames is not None:
            parts = line.strip().split(" ", 1)
            frames.append(parts[1] if len(parts) > 1 else "")
    if frames is not None:
        yield frames


def kernel_kind(frames):
    text = " ".join(frames)
    if any(k in text for k in ("tcp_", "sock_", "inet_", "writev", "sendto", "recvfrom", "__x64_sys_read", "__x64_sys_write")):
        return "kernel: sockets (loopback TCP)"
    if any(k in text for k in ("futex", "schedule", "epoll", "hrtimer", "finish_task_switch", "nanosleep")):
        return "kernel: scheduling, futexes, epoll, timers"
    return "kernel: other"


def kind(frames):
    if frames and "[kernel.kallsyms]" in frames[0]:
        return kernel_kind(frames)
    for frame in frames:
        if any(g in frame for g in GENERIC) and not any(p in frame for _, ps in KINDS for p in ps):
            continue
        for name, patterns in KINDS:
            if any(p in frame for p in patterns):
                return name
    return "other (only the standard library or libc seen)"


def activity(frames):
    for name, patterns in ACTIVITIES:
        if any(p in f for f in frames for p in patterns):
            return name
    if any("tokio::" in f for f in frames):
        return "tokio alone (its scheduler, parked or polling)"
    return "unattributed (stack cut short)"


def main():
    by_activity, by_kind, allocator = Counter(), Counter(), 0
    n = 0
    for frames in samples(sys.stdin):
        n += 1
        by_activity[activity(frames)] += 1
        by_kind[kind(frames)] += 1
        if frames and any(a in frames[0] for a in ("malloc", "free", "realloc", "memmove", "memcpy", "unlink_chunk")):
            allocator += 1
    print(f"{n} samples")
    for title, counts in (("by task", by_activity), ("by kind of work", by_kind)):
        print(f"\n| {title} | share |\n|---|---|")
        for name, count in counts.most_common():
            print(f"| {name} | {100 * count / n:.1f} % |")
    print(f"\nallocator and memcpy at the leaf, whoever called them: {100 * allocator / n:.1f} %")


if __name__ == "__main__":
    main()
