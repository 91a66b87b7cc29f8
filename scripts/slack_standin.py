#!/usr/bin/env python3
"""A local stand-in for Slack, for the demo: it sends `/ott ...` to ottd's POST /slack/commands
signed as Slack signs (v0 HMAC-SHA256 over "v0:<timestamp>:<body>"), receives the follow-ups on
a local response_url, and prints every message as text, link buttons as `[label] url`.

    slack_standin.py --ottd http://127.0.0.1:PORT --secret S --user U0DEMO "start demo" "links demo"

Loopback only; standard library only.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import queue
import threading
import time
import urllib.parse
import urllib.request

WORKING = ":hourglass_flowing_sand:"


def text_of(msg):
    out = []
    for b in msg.get("blocks", []):
        if b.get("type") == "section":
            if "text" in b:
                out.append(b["text"]["text"])
            for f in b.get("fields", []):
                out.append("  " + f["text"].replace("\n", ": ", 1))
        elif b.get("type") == "actions":
            for e in b.get("elements", []):
                label = e["text"]["text"]
                out.append(f"  [{label}] {e['url']}" if "url" in e else f"  [{label}] (button: {e.get('value')})")
        elif b.get("type") == "context":
            out.append("  " + " | ".join(e["text"] for e in b.get("elements", [])))
    return "\n".join(out) or msg.get("text", "")


def is_final(msg):
    blocks = msg.get("blocks") or [{}]
    return not blocks[0].get("text", {}).get("text", "").startswith(WORKING)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ottd", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--user", default="U0DEMO")
    ap.add_argument("--channel", default="C0LIVEOPS")
    ap.add_argument("--port", type=int, default=0, help="the response_url receiver's port (ottd's response_hosts)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("commands", nargs="+")
    args = ap.parse_args()

    received = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.put(json.loads(body or b"{}"))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    response_url = f"http://127.0.0.1:{server.server_address[1]}/response"

    for text in args.commands:
        form = urllib.parse.urlencode({
            "token": "unused", "team_id": "T0DEMO", "team_domain": "demo", "channel_id": args.channel,
            "channel_name": "live-ops", "user_id": args.user, "user_name": "demo", "command": "/ott",
            "text": text, "api_app_id": "A0DEMO", "response_url": response_url, "trigger_id": f"{time.time_ns()}.demo",
        }).encode()
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(args.secret.encode(), b"v0:" + ts.encode() + b":" + form, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"{args.ottd}/slack/commands", data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
        started = time.monotonic()
        with urllib.request.urlopen(req, timeout=10) as r:
            ack = json.load(r)
        print(f"\n/ott {text}    (acknowledged in {(time.monotonic() - started) * 1000:.0f} ms, {ack.get('response_type')})")
        print(text_of(ack))
        msg = ack
        deadline = time.monotonic() + args.timeout
        while not is_final(msg):
            try:
                msg = received.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"slack stand-in: no result for /ott {text} within {args.timeout:.0f} s")
            print(f"-- follow-up on response_url:\n{text_of(msg)}")
    server.shutdown()


if __name__ == "__main__":
    main()
