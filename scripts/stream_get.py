#!/usr/bin/env python3
"""GET a playback or origin URL from the emulator's stream server (ottd_moto.py --streams):
connects to the stream server on loopback, as the URL's host (Host header and TLS SNI),
verifying TLS against the emulator's test CA. Like `curl --resolve HOST:443:127.0.0.1
--cacert CA URL`, with no curl needed.

Usage: stream_get.py STREAMS_URL CA_PEM URL [--header 'Name: value']... [--wait SECONDS] [--lines N]
  STREAMS_URL  https://127.0.0.1:<port> (the OTTD_STREAMS_READY line)
  --wait       retry a 404 (no segment yet) for this long (default 0)
  --lines      print at most N lines of a text body (default 12); binary bodies: their size
Exits 0 on HTTP 200, 1 otherwise.
"""

import argparse
import http.client
import socket
import ssl
import sys
import time
from urllib.parse import urlsplit


class _Loopback(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(host, port, context=context, timeout=10)

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("streams_url")
    ap.add_argument("ca_pem")
    ap.add_argument("url")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--wait", type=float, default=0.0)
    ap.add_argument("--lines", type=int, default=12)
    args = ap.parse_args()

    port = urlsplit(args.streams_url).port or 443
    target = urlsplit(args.url)
    path = target.path + (f"?{target.query}" if target.query else "")
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    context = ssl.create_default_context(cafile=args.ca_pem)
    until = time.monotonic() + args.wait
    while True:
        conn = _Loopback(target.hostname or "", port, context)
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        if r.status != 404 or time.monotonic() >= until:
            break
        time.sleep(0.5)
    print(f"HTTP {r.status} {r.reason} ({len(body)} bytes, {r.getheader('Content-Type')})")
    try:
        text = body.decode()
        for line in text.splitlines()[: args.lines]:
            print(f"  {line}")
    except UnicodeDecodeError:
        print(f"  (binary: {len(body)} bytes)")
    return 0 if r.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
