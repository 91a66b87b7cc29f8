#!/usr/bin/env python3
"""Latency-injecting HTTP/1.1 reverse proxy for ottd's emulator tests (standard library only).

Listens on 127.0.0.1 and forwards every request to --upstream (an http://127.0.0.1:PORT
moto server) after sleeping --delay-ms, so tests see AWS-like round-trip latency.

* Client side: HTTP/1.1 keep-alive, any number of concurrent connections (one asyncio task
  each; requests on one connection are handled in order).
* Request bodies: Content-Length or chunked; "Expect: 100-continue" is answered by the proxy.
* Upstream side: one fresh connection per request with "Connection: close"; the response
  is relayed as it arrives, keeping its framing (Content-Length or chunked). A response
  with neither is read to EOF and re-sent with a Content-Length.
* Fault rules match a request's key, "METHOD /path", with "?query" when the request has
  one and " Target" when it has an X-Amz-Target header (JSON APIs such as Secrets Manager
  send everything to "POST /"): "PUT /bucket/?encryption", "POST / secretsmanager.CreateSecret".
  REGEX is searched in the key; each rule acts on its first N matches only.
* --fail 'REGEX=N' (repeatable): the first N matching requests get 503
  ServiceUnavailableException without reaching the upstream, as AWS answers when it is
  briefly overloaded (the SDK retries them). A 503 is logged on stderr.
* --lose 'REGEX=N' (repeatable): the first N matching requests are forwarded, the upstream
  performs them and answers, the proxy reads that whole answer and then closes the client's
  connection without sending a byte of it: the create happened, the caller never heard.
  The SDK sees the connection closed before a response (hyper's IncompleteMessage), a
  transient error its standard retry strategy retries. Logged on stderr as
  "delay_proxy: lost the answer (HTTP <status>) to <key>".
* --stall 'REGEX=MS' (repeatable): every matching request is held MS milliseconds before it
  is forwarded (a slow AWS call: tests use it to find a daemon in the middle of a step, to
  kill or pause it there). Logged on stderr as "delay_proxy: stalling <key>", then
  "delay_proxy: answered (HTTP <status>) stalled <key>" once the answer is sent.
* --log-requests FILE: one JSON line per request answered: its key, status, its body's size,
  the answer's size (head and body) and, for DynamoDB's TransactWriteItems / BatchWriteItem,
  how many items it writes (what the state cost benchmark counts).
* Prints "OTTD_PROXY_READY http://127.0.0.1:<port>" on stdout once listening; on
  SIGTERM/SIGINT prints "delay_proxy: handled N requests" on stderr and exits 0.

Usage: python delay_proxy.py --upstream http://127.0.0.1:PORT [--listen-port 0] [--delay-ms 100]
       [--fail '^POST /prod/channels$=2'] [--lose '^POST /prod/inputs$=1'] [--stall '^POST /2020-05-31/distribution=5000']
"""

import argparse
import asyncio
import json
import re
import signal
import sys
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect",
}
MAX_HEADER = 1 << 20


class Stats:
    requests = 0
    errors = 0
    injected = 0
    lost = 0


# [compiled regex, matches left], from --fail and --lose.
FAILURES: list = []
LOSSES: list = []
# [compiled regex, milliseconds], from --stall.
STALLS: list = []


# Where --log-requests writes, if anywhere.
REQUEST_LOG = None


def written_items(key: str, body: bytes) -> int:
    """Items a DynamoDB batch or transaction writes (1 for anything else)."""
    if not key.endswith(("TransactWriteItems", "BatchWriteItem")):
        return 1
    try:
        doc = json.loads(body)
    except ValueError:
        return 1
    if "TransactItems" in doc:
        return len(doc["TransactItems"])
    return sum(len(v) for v in doc.get("RequestItems", {}).values())


def partition(body: bytes) -> str:
    """The DynamoDB partition a request names (its key's or its query's `pk`), if any."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    pk = (doc.get("Key") or {}).get("pk") or (doc.get("ExpressionAttributeValues") or {}).get(":pk") or {}
    return pk.get("S", "") if isinstance(pk, dict) else ""


def request_key(method: str, target: str, headers) -> str:
    """What fault rules match: "METHOD /path[?query][ X-Amz-Target]"."""
    key = f"{method} {target}"
    amz_target = header(headers, "x-amz-target")
    return f"{key} {amz_target}" if amz_target else key


def take(rules: list, key: str) -> bool:
    """Whether a rule with matches left matches key (using up one of its matches)."""
    for rule in rules:
        if rule[1] > 0 and rule[0].search(key):
            rule[1] -= 1
            return True
    return False


def parse_rules(flag: str, specs: list) -> list:
    rules = []
    for spec in specs:
        pattern, _, count = spec.rpartition("=")
        if not pattern or not count.isdigit():
            raise SystemExit(f"{flag} {spec!r}: expected REGEX=N")
        rules.append([re.compile(pattern), int(count)])
    return rules


def parse_head(raw: bytes):
    lines = raw.decode("latin-1").split("\r\n")
    start = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return start, headers


def header(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def read_chunked(reader: asyncio.StreamReader, sink):
    """Read a chunked body, passing each raw piece (framing included) to sink."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        await sink(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers, up to the empty line
                line = await reader.readuntil(b"\r\n")
                await sink(line)
                if line == b"\r\n":
                    return
        await sink(await reader.readexactly(size + 2))


async def handle_one(reader, writer, upstream, delay) -> bool:
    """Proxy one request from the client. Returns False when the connection should close."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    start, headers = parse_head(raw)
    method, target, version = (start.split(" ", 2) + ["", ""])[:3]
    client_close = (header(headers, "connection") or "").lower() == "close" or version == "HTTP/1.0"

    if (header(headers, "expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()

    body = bytearray()
    te = (header(headers, "transfer-encoding") or "").lower()
    if "chunked" in te:
        async def collect(piece):
            body.extend(piece)
        await read_chunked(reader, collect)
    else:
        length = int(header(headers, "content-length") or 0)
        if length:
            body.extend(await reader.readexactly(length))

    Stats.requests += 1
    await asyncio.sleep(delay)
    key = request_key(method, target, headers)

    stalled = False
    for pattern, ms in STALLS:
        if pattern.search(key):
            print(f"delay_proxy: stalling {key}", file=sys.stderr, flush=True)
            await asyncio.sleep(ms / 1000.0)
            stalled = True
            break

    if take(FAILURES, key):
        Stats.injected += 1
        print(f"delay_proxy: 503 for {key}", file=sys.stderr, flush=True)
        msg = b'{"message":"Service is unavailable, try again"}'
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     + b"x-amzn-ErrorType: ServiceUnavailableException\r\n"
                     + f"Content-Length: {len(msg)}\r\n".encode()
                     + (b"Connection: close\r\n" if client_close else b"Connection: keep-alive\r\n")
                     + b"\r\n" + msg)
        await writer.drain()
        return not client_close

    # Lose the answer: relay nothing of it to the client, then close the connection.
    lose = take(LOSSES, key)
    relayed = [0]

    async def emit(data: bytes):
        relayed[0] += len(data)
        if not lose:
            writer.write(data)
            await writer.drain()

    out = [f"{method} {target} HTTP/1.1"]
    out += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    out.append("Connection: close")
    try:
        up_r, up_w = await asyncio.open_connection(upstream.hostname, upstream.port, limit=MAX_HEADER)
    except OSError as e:
        Stats.errors += 1
        msg = f"delay_proxy: upstream unreachable: {e}".encode()
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
                     + f"Content-Length: {len(msg)}\r\n\r\n".encode() + msg)
        await writer.drain()
        return not client_close
    try:
        up_w.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + bytes(body))
        await up_w.drain()

        resp_raw = await up_r.readuntil(b"\r\n\r\n")
        status_line, resp_headers = parse_head(resp_raw)
        status = int(status_line.split(" ")[1])
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        resp_te = (header(resp_headers, "transfer-encoding") or "").lower()
        resp_len = header(resp_headers, "content-length")

        head = [status_line] + [f"{k}: {v}" for k, v in resp_headers
                                if k.lower() not in ("connection", "keep-alive")]
        if not no_body and "chunked" not in resp_te and resp_len is None:
            data = await up_r.read()  # unframed: read to EOF, re-frame
            head.append(f"Content-Length: {len(data)}")
            head.append("Connection: close" if client_close else "Connection: keep-alive")
            await emit(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        else:
            head.append("Connection: close" if client_close else "Connection: keep-alive")
            await emit(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            if not no_body:
                if "chunked" in resp_te:
                    await read_chunked(up_r, emit)
                else:
                    remaining = int(resp_len)
                    while remaining:
                        piece = await up_r.read(min(remaining, 65536))
                        if not piece:
                            raise asyncio.IncompleteReadError(b"", remaining)
                        await emit(piece)
                        remaining -= len(piece)
        if lose:
            # The upstream has answered in full, so the request was performed. Log first: a
            # test that sees its call fail can then rely on the line being there.
            Stats.lost += 1
            print(f"delay_proxy: lost the answer (HTTP {status}) to {key}", file=sys.stderr, flush=True)
            return False
        await writer.drain()
        if stalled:
            print(f"delay_proxy: answered (HTTP {status}) stalled {key}", file=sys.stderr, flush=True)
        if REQUEST_LOG is not None:
            REQUEST_LOG.write(json.dumps({"key": key, "status": status, "bytes": len(body),
                                          "items": written_items(key, body), "answer_bytes": relayed[0],
                                          "partition": partition(body)}) + "\n")
            REQUEST_LOG.flush()
    finally:
        up_w.close()
    return not client_close


async def serve_client(reader, writer, upstream, delay):
    try:
        while await handle_one(reader, writer, upstream, delay):
            pass
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as e:
        Stats.errors += 1
        print(f"delay_proxy: connection error: {e!r}", file=sys.stderr)
    finally:
        writer.close()


async def main_async(args) -> None:
    upstream = urlsplit(args.upstream)
    if upstream.scheme != "http" or not upstream.port:
        raise SystemExit("--upstream must look like http://127.0.0.1:PORT")
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: serve_client(r, w, upstream, delay),
        host="127.0.0.1", port=args.listen_port, limit=MAX_HEADER, backlog=1024,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"OTTD_PROXY_READY http://127.0.0.1:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()  # don't wait for idle keep-alive clients; asyncio.run cancels them
    print(f"delay_proxy: handled {Stats.requests} requests ({Stats.errors} errors, "
          f"{Stats.injected} injected 503s, {Stats.lost} lost answers)", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--listen-port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--delay-ms", type=float, default=100.0)
    ap.add_argument("--fail", action="append", default=[], metavar="REGEX=N",
                    help="answer 503 to the first N requests whose key matches, without forwarding them")
    ap.add_argument("--lose", action="append", default=[], metavar="REGEX=N",
                    help="forward the first N requests whose key matches, then close the connection "
                         "instead of relaying the answer")
    ap.add_argument("--stall", action="append", default=[], metavar="REGEX=MS",
                    help="hold every request whose key matches MS milliseconds before forwarding it")
    ap.add_argument("--log-requests", metavar="FILE", help="one JSON line per request (key, bytes, items)")
    args = ap.parse_args()
    global REQUEST_LOG
    if args.log_requests:
        REQUEST_LOG = open(args.log_requests, "a", encoding="utf-8")
    FAILURES.extend(parse_rules("--fail", args.fail))
    LOSSES.extend(parse_rules("--lose", args.lose))
    STALLS.extend(parse_rules("--stall", args.stall))
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
