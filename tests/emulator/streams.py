"""Live streams for the AWS emulator: each RUNNING MediaLive channel gets a real HLS and DASH
stream, encoded by ffmpeg and served over HTTPS at the MediaPackage endpoint URLs and the
CloudFront domains moto hands out. Opt-in: ottd_moto.py --streams DIR.

Written for moto 5.2.5 with ottd_moto.py's extension (it reads moto's MediaLive,
MediaPackage v1, Secrets Manager and CloudFront backends in place).

What it does:
  * One ffmpeg per RUNNING channel (started when the channel settles RUNNING, killed when it
    stops or is deleted, restarted with a fresh output directory on RestartChannelPipelines).
    One encode (lavfi testsrc2 + sine, two H.264 renditions and AAC) feeds three muxers
    through ffmpeg's tee: HLS with MPEG-TS segments, HLS with fMP4 segments (served for CMAF
    endpoints) and DASH. Segment length: --stream-segment-seconds (default 1).
  * An HTTPS server on a loopback port, with a test CA made at start (DIR/ca.pem) and a
    certificate issued per SNI host name. It routes by the Host header:
      <anything>.mediapackage.<region>.amazonaws.com  the origin: /<endpoint-id>/<file>,
          CDN authorization checked against the endpoint's secret (403 as AWS);
      <distribution>.cloudfront.net  the CDN hop: the distribution's origin answers, asked
          with the origin's custom headers, as CloudFront forwards (no cache).
    Every answer carries Access-Control-Allow-Origin: *; Range (206) and conditional
    requests (ETag / If-None-Match, Last-Modified / If-Modified-Since: 304) are supported.
  * Test-only controls (served by ottd_moto.py under /ottd-emulator/streams on the moto
    port): freeze / thaw / stop / start / break / mend a channel's stream, list the streams
    with their first-segment time and per-hop request and byte counters, reset the counters.

ffmpeg children never outlive the emulator: they are spawned by one long-lived supervisor
thread with PR_SET_PDEATHSIG (SIGKILL), and killed on a normal exit too.
"""

from __future__ import annotations

import ctypes
import datetime
import email.utils
import fnmatch
import hashlib
import http.server
import ipaddress
import json
import os
import queue
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CDN_HEADER = "X-MediaPackage-CDNIdentifier"
# The JSON key of the CDN secret MediaPackage reads (ottd's src/aws/secrets.rs writes it).
CDN_SECRET_KEY = "MediaPackageCDNIdentifier"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FPS = 10
# Channel states in which the encoder must not run (UPDATING and a re-STARTING of a RUNNING
# channel keep it: moto accepts both on a RUNNING channel).
_STOPPED_STATES = {"CREATING", "IDLE", "STOPPING", "DELETING", "DELETED"}
_ORIGIN_HOST = re.compile(r"^[a-z0-9-]+\.mediapackage\.([a-z0-9-]+)\.amazonaws\.com$")
_SAFE_FILE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
# What each packaging serves from the shared encode: (sub-directory, the manifest's file).
_PACKAGES = {"hls": ("hls", "master.m3u8"), "cmaf": ("cmaf", "master.m3u8"), "dash": ("dash", "manifest.mpd")}
_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/MP2T",
    ".mpd": "application/dash+xml",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
}


# SCTE-35 breaks of a channel, for the HLS cue markers: channel id -> [(start, end or None,
# duration seconds or None)] in wall-clock unix seconds. ottd_moto.py sets it to the
# schedule's (schedule.breaks_for); None: no markers.
BREAKS: Optional[Callable[[str], list[tuple[float, Optional[float], Optional[float]]]]] = None
# The HLS ad marker settings of a MediaPackage v1 endpoint under which cue tags are written.
_CUE_AD_MARKERS = {"PASSTHROUGH", "SCTE35_ENHANCED"}
_SEGMENT_TAGS = (b"#EXTINF", b"#EXT-X-PROGRAM-DATE-TIME", b"#EXT-X-DISCONTINUITY", b"#EXT-X-BYTERANGE", b"#EXT-X-KEY",
                 b"#EXT-X-MAP", b"#EXT-X-GAP")


def rfc3339_ms(t: Optional[float]) -> Optional[str]:
    if t is None:
        return None
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _get(d: Any, name: str) -> Any:
    """A field of a moto-stored request dict, whichever case moto kept (PascalCase or camelCase)."""
    if not isinstance(d, dict):
        return None
    if name in d:
        return d[name]
    return d.get(name[0].lower() + name[1:])


def _items(container: Any) -> list:
    """The Items of a CloudFront `{Quantity, Items}` structure, as a list."""
    items = _get(container, "Items") if isinstance(container, dict) else None
    if isinstance(items, dict):  # one XML element parsed as a dict of its only child
        items = next(iter(items.values()), [])
    if isinstance(items, dict):
        items = [items]
    return list(items or [])


# --- the test CA and per-host certificates -------------------------------------------------------


class TestCA:
    """A certificate authority made at start; issues a server certificate per host name."""

    def __init__(self, pem_path: Path, directory: Path) -> None:
        self.dir = directory  # the issued certificates (with their keys)
        self.dir.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ottd emulator test CA")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.pem_path = pem_path
        self.pem_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, names: list[str], file_name: str) -> Path:
        """A PEM file (certificate, CA, key) for `names` (DNS names or IP addresses)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        path = self.dir / file_name
        path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + self.cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        )
        return path


# --- one channel's stream ------------------------------------------------------------------------


@dataclass
class Counter:
    requests: int = 0
    bytes: int = 0

    def as_json(self) -> dict:
        return {"requests": self.requests, "bytes": self.bytes}


def _hops() -> dict[str, Counter]:
    # origin: viewers' requests straight to MediaPackage; cdn: viewers' requests to CloudFront;
    # cdn_to_origin: what CloudFront asked the origin to answer them.
    return {"origin": Counter(), "cdn": Counter(), "cdn_to_origin": Counter()}


@dataclass
class Stream:
    channel_id: str
    account: str
    region: str
    encode: int = 0  # how many encodes were started (the current one's number)
    dir: Optional[Path] = None  # the current (or last) encode's output
    proc: Optional[subprocess.Popen] = None
    frozen: bool = False
    broken: bool = False
    started_at: Optional[float] = None
    first_segment_at: Optional[float] = None
    exit_code: Optional[int] = None  # of an encoder that exited by itself
    channel_state: str = ""
    hops: dict[str, Counter] = field(default_factory=_hops)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def state(self) -> str:
        if not self.alive():
            return "stopped"
        if self.frozen:
            return "frozen"
        return "broken" if self.broken else "running"


def _set_pdeathsig(parent: int) -> Callable[[], None]:
    """preexec_fn: SIGKILL this child when the thread that spawned it dies (the emulator)."""

    def run() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the emulator died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return run


def _wait_stopped(pid: int, limit: float = 1.0) -> None:
    """Until the kernel shows the process stopped (state T), so that nothing the encoder
    writes after `freeze` answers can be served: the signal is delivered asynchronously."""
    until = time.monotonic() + limit
    while time.monotonic() < until:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                    return
        except (OSError, IndexError):
            return
        time.sleep(0.002)


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    channel_id: Optional[str] = None  # whose counters it goes to


def _error(status: int, message: str, channel_id: Optional[str] = None, xml: bool = False) -> Answer:
    if xml:  # CloudFront's own errors
        code = {403: "AccessDenied", 404: "NotFound"}.get(status, "Error")
        body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
        return Answer(status, [("Content-Type", "application/xml")], body.encode(), channel_id)
    body = json.dumps({"message": message}).encode()
    return Answer(status, [("Content-Type", "application/json")], body, channel_id)


# --- the stream server ---------------------------------------------------------------------------


class StreamServer:
    def __init__(self, root: Path, segment_seconds: int, host: str = "127.0.0.1", port: int = 0) -> None:
        if segment_seconds < 1:
            raise ValueError("--stream-segment-seconds must be at least 1")
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.segment_seconds = segment_seconds
        self.ffmpeg = shutil.which("ffmpeg")
        if self.ffmpeg is None:
            raise RuntimeError("--streams needs ffmpeg on PATH (Debian: apt-get install ffmpeg fonts-dejavu-core)")
        self.font = FONT if os.path.exists(FONT) else None
        if self.font is None:
            print(f"ottd_moto: streams: no font at {FONT} (fonts-dejavu-core): no wall clock burnt in",
                  file=sys.stderr, flush=True)
        self.ca = TestCA(self.root / "ca.pem", self.root / "tls")
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.RLock()
        self.streams: dict[str, Stream] = {}
        self.unattributed = _hops()
        self._commands: "queue.Queue[tuple[Callable[[], Any], Future]]" = queue.Queue()
        self._closing = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="ottd-streams-supervisor", daemon=True)
        self._supervisor.start()
        self.default_context()  # the certificate for connections without SNI, made now
        self._httpd = _TLSServer((host, port), _Handler, self)
        self.url = f"https://{host}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, name="ottd-streams-https", daemon=True).start()

    # -- TLS ------------------------------------------------------------------------------------

    def default_context(self) -> ssl.SSLContext:
        return self._context_for("127.0.0.1")

    def _context_for(self, name: str) -> ssl.SSLContext:
        with self._lock:
            ctx = self._contexts.get(name)
            if ctx is None:
                names = [name] if name != "127.0.0.1" else ["127.0.0.1", "localhost"]
                pem = self.ca.issue(names, f"host-{name}.pem")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
                ctx.load_cert_chain(pem)
                ctx.sni_callback = self._sni
                self._contexts[name] = ctx
            return ctx

    def _sni(self, sock: ssl.SSLObject, server_name: Optional[str], _ctx: ssl.SSLContext) -> None:
        if server_name and _SAFE_FILE.match(server_name) and len(server_name) < 254:
            sock.context = self._context_for(server_name.lower())

    # -- the supervisor: the one thread that spawns and reaps ffmpeg ----------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the supervisor thread and wait for it (PR_SET_PDEATHSIG fires when the
        *thread* that spawned a child ends, so request threads must not spawn)."""
        if threading.current_thread() is self._supervisor:
            return fn()
        done: Future = Future()
        self._commands.put((fn, done))
        return done.result(timeout=30)

    def _supervise(self) -> None:
        last_reconcile = 0.0
        while not self._closing.is_set():
            try:
                fn, done = self._commands.get(timeout=0.05)
            except queue.Empty:
                pass
            else:
                try:
                    done.set_result(fn())
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    done.set_exception(e)
            try:
                self._watch()
                if time.monotonic() - last_reconcile > 1.0:
                    last_reconcile = time.monotonic()
                    self._reconcile()
            except Exception as e:  # noqa: BLE001 - the supervisor must live on
                print(f"ottd_moto: streams: supervisor: {e!r}", file=sys.stderr, flush=True)

    def _watch(self) -> None:
        """Note encoders that exited by themselves, and when each encode's first segment appeared."""
        with self._lock:
            streams = list(self.streams.values())
        for s in streams:
            if s.proc is not None and s.proc.poll() is not None and s.exit_code is None and not s.frozen:
                s.exit_code = s.proc.returncode
                self._log(s, f"ffmpeg exited by itself with {s.exit_code}")
            if s.first_segment_at is None and s.dir is not None and s.alive():
                # When every packaging is playable: HLS and CMAF playlists exist once their
                # first segment is complete (their mtime is that moment); ffmpeg writes the
                # MPD before any segment, so it counts once its timeline lists one.
                times = []
                for sub, manifest in (("hls", "index_0.m3u8"), ("dash", "manifest.mpd"), ("cmaf", "index_0.m3u8")):
                    path = s.dir / sub / manifest
                    try:
                        if sub == "dash" and "<S " not in path.read_text(errors="replace"):
                            break
                        times.append(path.stat().st_mtime)
                    except FileNotFoundError:
                        break
                if len(times) == 3:
                    s.first_segment_at = max(times)

    def _reconcile(self) -> None:
        """Catch what no hook saw: channels gone (POST /moto-api/reset) or no longer RUNNING."""
        with self._lock:
            streams = list(self.streams.items())
        for channel_id, s in streams:
            channel = _medialive_channel(s.account, s.region, channel_id)
            if channel is None:
                self._stop_encoder(s, remove=True)
                with self._lock:
                    self.streams.pop(channel_id, None)
            elif channel.state in _STOPPED_STATES and s.proc is not None:
                s.channel_state = channel.state
                self._stop_encoder(s, remove=True)

    def _log(self, s: Stream, line: str) -> None:
        with open(self.root / f"{s.channel_id}.log", "a") as f:
            f.write(f"--- {rfc3339_ms(time.time())} encode {s.encode}: {line}\n")

    def _command(self) -> list[str]:
        n = self.segment_seconds
        gop = FPS * n
        video = "[0:v]split=2[v0][t];[t]scale=160:90[v1]"
        if self.font:
            clock = (f"drawtext=fontfile={self.font}:text='%{{gmtime\\:%H\\\\\\:%M\\\\\\:%S}} UTC':"
                     "x=6:y=h-th-6:fontsize=18:fontcolor=white:box=1:boxcolor=black@0.6")
            video = f"[0:v]{clock},split=2[v0][t];[t]scale=160:90[v1]"
        hls = (f"hls_time={n}:hls_list_size=6:"
               "hls_flags=delete_segments+program_date_time+independent_segments+temp_file:"
               # Escaped twice: once for the tee's slave list, once for the slave's options.
               r"master_pl_name=master.m3u8:var_stream_map=v\\:0,a\\:0 v\\:1,a\\:1")
        tee = "|".join([
            f"[f=hls:{hls}:hls_segment_filename=hls/index_%v_%05d.ts]hls/index_%v.m3u8",
            f"[f=hls:{hls}:hls_segment_type=fmp4:hls_segment_filename=cmaf/index_%v_%05d.mp4]cmaf/index_%v.m3u8",
            f"[f=dash:select=0,1,2:streaming=1:window_size=6:use_timeline=1:use_template=1:seg_duration={n}:"
            "adaptation_sets=id=0,streams=v id=1,streams=a]dash/manifest.mpd",
        ])
        return [
            self.ffmpeg or "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
            "-re", "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={FPS}",
            "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-filter_complex_threads", "1", "-filter_complex", video,
            # Two video renditions; the audio twice, once per HLS variant (the DASH muxer takes one).
            "-map", "[v0]", "-map", "[v1]", "-map", "1:a", "-map", "1:a",
            "-threads", "1", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-b:v:0", "200k", "-b:v:1", "80k",
            # In-band parameter sets are still written for MPEG-TS (its muxer adds them to key
            # frames); the global header gives the MP4 muxers full codec strings (avc1.42c00d).
            "-flags", "+global_header",
            "-c:a", "aac", "-ac", "1", "-b:a", "48k",
            "-f", "tee", tee,
        ]

    def _start_encoder(self, s: Stream) -> None:
        """A fresh encode in a fresh directory (so the media sequence starts again)."""
        self._stop_encoder(s, remove=True)
        s.encode += 1
        s.dir = self.root / s.channel_id / str(s.encode)
        for sub in ("hls", "dash", "cmaf"):
            (s.dir / sub).mkdir(parents=True, exist_ok=True)
        cmd = self._command()
        self._log(s, "starting" + (": " + " ".join(cmd) if s.encode == 1 else " (the same command)"))
        with open(self.root / f"{s.channel_id}.log", "ab") as log:
            s.proc = subprocess.Popen(
                cmd, cwd=s.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                env=dict(os.environ, TZ="UTC"), preexec_fn=_set_pdeathsig(os.getpid()), close_fds=True,
            )
        s.frozen = False
        s.exit_code = None
        s.started_at = time.time()
        s.first_segment_at = None

    def _stop_encoder(self, s: Stream, remove: bool) -> None:
        """SIGKILL (a stopped encoder writes no #EXT-X-ENDLIST: the stream goes stale, as when
        MediaLive stops pushing). `remove`: delete the encode's output too."""
        if s.proc is not None:
            if s.proc.poll() is None:
                s.proc.kill()
            s.proc.wait()
            self._log(s, "stopped")
        s.proc = None
        s.frozen = False
        if remove and s.dir is not None:
            shutil.rmtree(s.dir, ignore_errors=True)
            s.dir = None

    def _entry(self, channel: Any) -> Stream:
        account, region = getattr(channel, "_ottd_origin", ("", ""))
        with self._lock:
            s = self.streams.get(channel.id)
            if s is None:
                s = self.streams[channel.id] = Stream(channel.id, account, region)
            return s

    # -- hooks called by ottd_moto.py -----------------------------------------------------------

    def channel_state_changed(self, channel: Any, before: Any, after: Any) -> None:
        def act() -> None:
            s = self._entry(channel)
            s.channel_state = str(after)
            if after == "RUNNING" and not s.alive():
                self._start_encoder(s)

        def stop() -> None:
            with self._lock:
                s = self.streams.get(channel.id)
            if s is not None:  # only channels that ever ran have an entry
                s.channel_state = str(after)
                self._stop_encoder(s, remove=True)

        if after == "RUNNING":
            self._call(act)
        elif after in _STOPPED_STATES:
            self._call(stop)

    def channel_restarted(self, channel: Any) -> None:
        def act() -> None:
            s = self._entry(channel)
            self._start_encoder(s)

        self._call(act)

    def reset(self) -> None:
        """POST /moto-api/reset: every channel is gone."""

        def act() -> None:
            with self._lock:
                streams = list(self.streams.values())
                self.streams.clear()
                self.unattributed = _hops()
            for s in streams:
                self._stop_encoder(s, remove=True)

        self._call(act)

    def shutdown(self) -> None:
        def act() -> None:
            with self._lock:
                streams = list(self.streams.values())
            for s in streams:
                self._stop_encoder(s, remove=False)

        try:
            self._call(act)
        finally:
            self._closing.set()
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- test-only controls ---------------------------------------------------------------------

    def control(self, channel_id: str, what: Any) -> tuple[int, Any]:
        channel = _find_medialive_channel(channel_id)
        if channel is None:
            return 404, {"message": f"no MediaLive channel {channel_id}"}
        if what not in ("freeze", "thaw", "stop", "start", "break", "mend"):
            return 400, {"message": f"unknown action {what!r}: freeze, thaw, stop, start, break or mend"}

        def act() -> tuple[int, Any]:
            s = self._entry(channel)
            if what == "freeze":
                if not s.alive():
                    return 409, {"message": f"channel {channel_id} has no encoder running"}
                s.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
                _wait_stopped(s.proc.pid)  # type: ignore[union-attr]
                s.frozen = True
            elif what == "thaw":
                if s.alive() and s.frozen:
                    s.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
                s.frozen = False
            elif what == "stop":
                self._stop_encoder(s, remove=False)
            elif what == "start":
                if channel.state != "RUNNING":
                    return 409, {"message": f"channel {channel_id} is {channel.state}, not RUNNING"}
                if not s.alive():
                    self._start_encoder(s)
            elif what == "break":
                s.broken = True
            elif what == "mend":
                s.broken = False
            return 200, self._describe(s)

        return self._call(act)

    def _describe(self, s: Stream) -> dict:
        return {
            "channel_id": s.channel_id,
            "account": s.account,
            "region": s.region,
            "channel_state": s.channel_state,
            "state": s.state,
            "encoder": "stopped" if not s.alive() else ("frozen" if s.frozen else "running"),
            "broken": s.broken,
            "encode": s.encode,
            "pid": s.proc.pid if s.alive() else None,  # type: ignore[union-attr]
            "started_at": rfc3339_ms(s.started_at),
            "first_segment_at": rfc3339_ms(s.first_segment_at),
            "segment_seconds": self.segment_seconds,
            "hops": {k: c.as_json() for k, c in s.hops.items()},
            "dir": str(s.dir) if s.dir else None,
            "log": str(self.root / f"{s.channel_id}.log"),
        }

    def listing(self) -> dict:
        with self._lock:
            return {
                "url": self.url,
                "ca_pem": str(self.ca.pem_path),
                "segment_seconds": self.segment_seconds,
                "streams": [self._describe(s) for s in self.streams.values()],
                "unattributed": {k: c.as_json() for k, c in self.unattributed.items()},
            }

    def reset_counters(self) -> None:
        with self._lock:
            for s in self.streams.values():
                s.hops = _hops()
            self.unattributed = _hops()

    def _count(self, channel_id: Optional[str], hop: str, nbytes: int) -> None:
        with self._lock:
            s = self.streams.get(channel_id) if channel_id else None
            c = (s.hops if s else self.unattributed)[hop]
            c.requests += 1
            c.bytes += nbytes

    # -- the origin (MediaPackage v1) -----------------------------------------------------------

    def _locate(self, region: str, endpoint_id: str) -> tuple[Any, Optional[str], Any]:
        """The endpoint, its account, and the RUNNING MediaLive channel pushing to its
        MediaPackage channel (None when there is none)."""
        from moto.mediapackage.models import mediapackage_backends

        for account, per_region in list(mediapackage_backends.items()):
            backend = per_region.get(region)  # dict.get: never creates a backend
            endpoint = getattr(backend, "_origin_endpoints", {}).get(endpoint_id) if backend else None
            if endpoint is not None:
                return endpoint, account, _running_channel_for(account, region, endpoint.channel_id)
        return None, None, None

    def origin(self, host: str, path: str, headers: Mapping[str, str], method: str) -> Answer:
        m = _ORIGIN_HOST.match(host)
        if m is None:
            return _error(404, f"not a MediaPackage origin host: {host}")
        region = m.group(1)
        parts = path.split("?", 1)[0].split("/")
        if len(parts) != 3 or parts[0] != "" or not parts[1] or not _SAFE_FILE.match(parts[2]) or parts[2].endswith(".tmp"):
            return _error(404, f"no such object: {path}")
        endpoint_id, name = parts[1], parts[2]
        endpoint, account, channel = self._locate(region, endpoint_id)
        if endpoint is None:
            return _error(404, f"no origin endpoint {endpoint_id} in {region}")
        channel_id = channel.id if channel is not None else None
        denied = _check_cdn_authorization(endpoint, headers)
        if denied:
            return _error(403, denied, channel_id)
        if channel is None:
            return _error(404, f"no RUNNING MediaLive channel pushes to MediaPackage channel {endpoint.channel_id}")
        with self._lock:
            s = self.streams.get(channel.id)
            directory = s.dir if s else None
        if directory is None:
            return _error(404, f"channel {channel.id} has no stream yet", channel_id)
        found = _package_file(endpoint, name)
        if found is None:
            return _error(404, f"{endpoint_id} serves no {name}", channel_id)
        sub, file_name, kind = found
        try:
            fpath = directory / sub / file_name
            body = fpath.read_bytes()
            mtime = fpath.stat().st_mtime
        except FileNotFoundError:
            return _error(404, f"{name}: no such segment or manifest (yet)", channel_id)
        if kind == "hls-playlist":
            # ffmpeg writes the date-time as +0000; MediaPackage writes RFC 3339's Z.
            body = re.sub(rb"(#EXT-X-PROGRAM-DATE-TIME:[^\r\n]*?)\+0000", rb"\1Z", body)
            if b"#EXTINF" in body and endpoint.hls_package and BREAKS is not None:
                body = _with_cues(body, endpoint.hls_package, BREAKS(channel.id))
        elif kind == "mpd":
            body = _with_utc_timing(body, _get(endpoint.dash_package, "UtcTiming"), _get(endpoint.dash_package, "UtcTimingUri"))
        ctype = _CONTENT_TYPES.get(os.path.splitext(file_name)[1], "application/octet-stream")
        if ctype == "video/mp4" and "stream2" in file_name:
            ctype = "audio/mp4"
        manifest = kind in ("hls-playlist", "mpd")
        cache = f"max-age={self.segment_seconds}" if manifest else "max-age=86400"
        answer = _representation(body, mtime, ctype, cache, headers, method)
        answer.channel_id = channel_id
        return answer

    # -- the CDN hop (CloudFront) ---------------------------------------------------------------

    def cdn(self, host: str, path: str, headers: Mapping[str, str], method: str) -> Answer:
        dist = _distribution_by_domain(host)
        if dist is None:
            return _error(404, f"no CloudFront distribution {host}", xml=True)
        config = dist.distribution_config
        if str(getattr(config, "Enabled", False)).lower() != "true":
            return _error(403, "The distribution is disabled.", xml=True)
        origin = _origin_for(config, path.split("?", 1)[0])
        if origin is None:
            return _error(502, "No origin for this request.", xml=True)
        origin_host = str(origin.domain_name).lower()
        m = _ORIGIN_HOST.match(origin_host)
        if m is None:
            return _error(502, f"CloudFront could not connect to the origin {origin_host}.", xml=True)
        origin_path = (origin.origin_path or "") + path
        parts = origin_path.split("?", 1)[0].split("/")
        channel_id = None
        if len(parts) >= 2:
            _, _, channel = self._locate(m.group(1), parts[1])
            channel_id = channel.id if channel is not None else None
            with self._lock:
                s = self.streams.get(channel_id) if channel_id else None
                broken = bool(s and s.broken)
            if broken:
                return _error(403, "Request blocked (the emulator's 'break' control).", channel_id, xml=True)
        forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        for h in _items(origin.custom_headers):
            name, value = _get(h, "HeaderName"), _get(h, "HeaderValue")
            for k in [k for k in forwarded if k.lower() == str(name).lower()]:
                del forwarded[k]  # CloudFront's custom header replaces the viewer's
            forwarded[str(name)] = str(value)
        answer = self.origin(origin_host, origin_path, forwarded, method)
        self._count(answer.channel_id, "cdn_to_origin", len(answer.body) if method != "HEAD" else 0)
        answer.headers += [
            ("Via", f"1.1 {hashlib.sha1(host.encode()).hexdigest()[:32]}.cloudfront.net (CloudFront)"),
            ("X-Cache", ("Miss" if answer.status < 400 else "Error") + " from cloudfront"),
            ("X-Amz-Cf-Pop", "EMU50-C1"),
        ]
        return answer

    def answer(self, host: str, path: str, headers: Mapping[str, str], method: str) -> tuple[str, Answer]:
        host = host.split(":", 1)[0].lower().rstrip(".")
        if host.endswith(".cloudfront.net"):
            return "cdn", self.cdn(host, path, headers, method)
        if _ORIGIN_HOST.match(host):
            return "origin", self.origin(host, path, headers, method)
        return "origin", _error(404, f"the stream server serves *.mediapackage.<region>.amazonaws.com and *.cloudfront.net, not {host or 'no Host'}")


# --- moto lookups ----------------------------------------------------------------------------


def _medialive_channel(account: str, region: str, channel_id: str) -> Any:
    from moto.medialive.models import medialive_backends

    backend = (medialive_backends.get(account) or {}).get(region)  # dict.get: never creates one
    return backend._channels.get(channel_id) if backend is not None else None


def _find_medialive_channel(channel_id: str) -> Any:
    from moto.medialive.models import medialive_backends

    for per_region in list(medialive_backends.values()):
        for backend in list(per_region.values()):
            channel = backend._channels.get(channel_id)
            if channel is not None:
                return channel
    return None


def _running_channel_for(account: str, region: str, package_channel_id: Any) -> Any:
    """The first RUNNING MediaLive channel (same account and region) whose destinations name
    the MediaPackage channel."""
    from moto.medialive.models import medialive_backends

    backend = (medialive_backends.get(account) or {}).get(region)
    if backend is None:
        return None
    for channel in list(backend._channels.values()):
        if channel.state != "RUNNING":
            continue
        for dest in channel.destinations or []:
            for mps in _get(dest, "MediaPackageSettings") or []:
                if _get(mps, "ChannelId") == package_channel_id:
                    return channel
    return None


def _check_cdn_authorization(endpoint: Any, headers: Mapping[str, str]) -> Optional[str]:
    """Why a request is refused (None when it may pass): with CDN authorization, the header
    must equal the secret's current MediaPackageCDNIdentifier."""
    auth = endpoint.authorization
    secret_arn = _get(auth, "CdnIdentifierSecret")
    if not secret_arn:
        return None
    sent = next((v for k, v in headers.items() if k.lower() == CDN_HEADER.lower()), None)
    if sent is None:
        return f"missing {CDN_HEADER} (the endpoint has CDN authorization)"
    from moto.secretsmanager.models import secretsmanager_backends

    try:
        _, _, _, region, account, _ = (str(secret_arn).split(":", 5) + [""] * 6)[:6]
        value = secretsmanager_backends[account][region].get_secret_value(
            secret_id=secret_arn, version_id=None, version_stage=None
        )
        expected = json.loads(value.get("SecretString") or "{}").get(CDN_SECRET_KEY)
    except Exception as e:  # noqa: BLE001 - any failure to read the secret refuses, as on AWS
        return f"the CDN identifier secret cannot be read: {type(e).__name__}"
    if not expected or sent != expected:
        return f"{CDN_HEADER} does not match the CDN identifier secret"
    return None


def _package_file(endpoint: Any, name: str) -> Optional[tuple[str, str, str]]:
    """Which file of the shared encode answers `name` for this endpoint's package:
    (sub-directory, file, kind). MSS is not streamed."""
    manifest = endpoint.manifest_name or "index"
    if endpoint.hls_package:
        sub, top = _PACKAGES["hls"]
        wanted = {f"{manifest}.m3u8"}
    elif endpoint.cmaf_package:
        sub, top = _PACKAGES["cmaf"]
        wanted = {f"{_get(m, 'ManifestName') or 'index'}.m3u8" for m in _get(endpoint.cmaf_package, "HlsManifests") or []}
        wanted = wanted or {"index.m3u8"}
    elif endpoint.dash_package:
        sub, top = _PACKAGES["dash"]
        wanted = {f"{manifest}.mpd"}
    else:
        return None
    if name in wanted:
        return sub, top, "mpd" if top.endswith(".mpd") else "hls-playlist"
    if name == top or name.endswith(".tmp"):
        return None
    kind = "hls-playlist" if name.endswith(".m3u8") else ("mpd" if name.endswith(".mpd") else "media")
    if kind == "mpd":
        return None
    return sub, name, kind


_UTC_SCHEMES = {"HTTP-HEAD": "http-head", "HTTP-ISO": "http-iso", "HTTP-XSDATE": "http-xsdate"}


def _with_utc_timing(mpd: bytes, mode: Any, uri: Any) -> bytes:
    """The DASH package's UtcTiming (HTTP-HEAD / HTTP-ISO / HTTP-XSDATE with UtcTimingUri),
    as MediaPackage writes it; NONE or unset writes nothing."""
    scheme = _UTC_SCHEMES.get(str(mode or "").upper())
    if not scheme or not uri:
        return mpd
    element = f'\t<UTCTiming schemeIdUri="urn:mpeg:dash:utc:{scheme}:2014" value="{uri}"/>\n'.encode()
    return mpd.replace(b"</MPD>", element + b"</MPD>", 1)


def _pdt(line: bytes) -> Optional[float]:
    try:
        text = line.split(b":", 1)[1].strip().decode().replace("Z", "+00:00")
        return datetime.datetime.fromisoformat(text).timestamp()
    except (IndexError, ValueError):
        return None


def _with_cues(playlist: bytes, hls_package: Any, breaks: list) -> bytes:
    """A media playlist with `#EXT-X-CUE-OUT[:<seconds>]` before the first segment of each
    SCTE-35 break (splice insert) and `#EXT-X-CUE-IN` before the first segment after it, as
    MediaPackage marks breaks when the endpoint's AdMarkers is PASSTHROUGH or SCTE35_ENHANCED
    (and its AdTriggers, when given, include SPLICE_INSERT). Segments are placed by their
    program date-time (every segment has one here). No CUE-OUT-CONT, OATCLS or ASSET tags."""
    if _get(hls_package, "AdMarkers") not in _CUE_AD_MARKERS or not breaks:
        return playlist
    triggers = _get(hls_package, "AdTriggers")
    if triggers and "SPLICE_INSERT" not in triggers:
        return playlist
    target = re.search(rb"#EXT-X-TARGETDURATION:(\d+)", playlist)
    step = float(target.group(1)) if target else 1.0
    out: list[bytes] = []
    segment: list[bytes] = []  # the tags of the segment being read (ffmpeg: EXTINF, then its date-time)
    previous: Optional[float] = None
    for line in playlist.split(b"\n"):
        if line.startswith(b"#") and not segment and not line.startswith(_SEGMENT_TAGS):
            out.append(line)  # a playlist tag
            continue
        segment.append(line)
        if not line or line.startswith(b"#"):
            continue
        # The segment's URI: its cue tags go before its first tag.
        at = next((_pdt(x) for x in segment if x.startswith(b"#EXT-X-PROGRAM-DATE-TIME:")), None)
        if at is not None:
            before = previous if previous is not None else at - step  # the window's first segment
            for start, end, seconds in breaks:
                if before < start <= at:
                    out.append(b"#EXT-X-CUE-OUT" + (f":{seconds:.3f}".encode() if seconds else b""))
                if end is not None and before < end <= at:
                    out.append(b"#EXT-X-CUE-IN")
            previous = at
        out.extend(segment)
        segment = []
    out.extend(segment)
    return b"\n".join(out)


def _distribution_by_domain(host: str) -> Any:
    from moto.cloudfront.models import cloudfront_backends

    for per_partition in list(cloudfront_backends.values()):
        for backend in list(per_partition.values()):
            for dist in list(backend.distributions.values()):
                if str(dist.domain_name).lower() == host:
                    return dist
    return None


def _origin_for(config: Any, path: str) -> Any:
    """The origin of the first cache behavior whose PathPattern matches, else the default's."""
    target = config.DefaultCacheBehavior.target_origin_id
    for behavior in _items(getattr(config, "CacheBehaviors", {})):
        pattern = getattr(behavior, "path_pattern", "") or ""
        if pattern and fnmatch.fnmatchcase(path, "/" + pattern.lstrip("/")):
            target = behavior.target_origin_id
            break
    for origin in _items(config.Origins):
        if getattr(origin, "id", None) == target:
            return origin
    return None


# --- HTTP representations: ETag, Last-Modified, Range --------------------------------------------


def _http_date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    strip = lambda t: t.strip().removeprefix("W/")  # noqa: E731
    return any(strip(t) == strip(etag) for t in header.split(","))


def _representation(body: bytes, mtime: float, ctype: str, cache: str, headers: Mapping[str, str], method: str) -> Answer:
    h = {k.lower(): v for k, v in headers.items()}
    etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
    last_modified = _http_date(mtime)
    base = [("ETag", etag), ("Last-Modified", last_modified), ("Cache-Control", cache), ("Accept-Ranges", "bytes")]
    if method in ("GET", "HEAD"):
        inm = h.get("if-none-match")
        if inm is not None:
            if _etag_matches(inm, etag):
                return Answer(304, base)
        elif "if-modified-since" in h:
            try:
                since = email.utils.parsedate_to_datetime(h["if-modified-since"]).timestamp()
                if int(mtime) <= since:
                    return Answer(304, base)
            except (TypeError, ValueError):
                pass
    size = len(body)
    rng = h.get("range")
    if rng and "if-range" in h:
        cond = h["if-range"].strip()
        if cond != etag and cond != last_modified:
            rng = None  # the representation changed: the whole of it
    if rng and method in ("GET", "HEAD"):
        m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", rng)
        if m and (m.group(1) or m.group(2)):  # one range; several ranges get the whole body
            first, last = m.group(1), m.group(2)
            if first:
                start, end = int(first), (min(int(last), size - 1) if last else size - 1)
            else:
                start, end = max(size - int(last), 0), size - 1
            if start >= size or (first and last and int(last) < int(first)) or (not first and int(last) == 0):
                return Answer(416, base + [("Content-Range", f"bytes */{size}"), ("Content-Type", ctype)])
            return Answer(206, base + [("Content-Range", f"bytes {start}-{end}/{size}"), ("Content-Type", ctype)],
                          body[start:end + 1])
    return Answer(200, base + [("Content-Type", ctype)], body)


# --- the HTTPS server ----------------------------------------------------------------------------


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: Any, streams: StreamServer) -> None:
        self.streams = streams
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, on the connection's own thread, not in the accept loop.
        request.settimeout(30)
        try:
            tls = self.streams.default_context().wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ottd-emulator-streams"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection is closed after this
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet, the counters tell
        pass

    def _send(self, answer: Answer, send_body: bool) -> int:
        self.send_response(answer.status)
        names = {k.lower() for k, _ in answer.headers}
        for k, v in answer.headers:
            self.send_header(k, v)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers",
                         "ETag, Last-Modified, Content-Length, Content-Range, Date, Age, X-Cache")
        if "content-length" not in names and answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if send_body and answer.body:
            self.wfile.write(answer.body)
            return len(answer.body)
        return 0

    def _serve(self, method: str) -> None:
        streams = self.server.streams
        headers = {k: v for k, v in self.headers.items()}
        hop, answer = streams.answer(self.headers.get("Host", ""), self.path, headers, method)
        sent = self._send(answer, method != "HEAD")
        streams._count(answer.channel_id, hop, sent)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve("HEAD")

    def do_OPTIONS(self) -> None:  # noqa: N802 - CORS preflight
        asked = self.headers.get("Access-Control-Request-Headers")
        headers = [("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"), ("Access-Control-Max-Age", "600")]
        if asked:
            headers.append(("Access-Control-Allow-Headers", asked))
        self._send(Answer(204, headers), False)

    def _not_allowed(self) -> None:
        self._send(_error(405, f"{self.command} is not served here"), True)

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


# --- the module's one server, for ottd_moto.py's hooks ------------------------------------------

SERVER: Optional[StreamServer] = None


def start(root: Path, segment_seconds: int, host: str = "127.0.0.1", port: int = 0) -> StreamServer:
    global SERVER
    SERVER = StreamServer(root, segment_seconds, host, port)
    return SERVER


def on_state_change(channel: Any, before: Any, after: Any) -> None:
    if SERVER is not None and before != after:
        try:
            SERVER.channel_state_changed(channel, before, after)
        except Exception as e:  # noqa: BLE001 - a stream failure never fails the MediaLive call
            print(f"ottd_moto: streams: channel {channel.id} {before}->{after}: {e!r}", file=sys.stderr, flush=True)


def on_restart(channel: Any) -> None:
    if SERVER is not None:
        try:
            SERVER.channel_restarted(channel)
        except Exception as e:  # noqa: BLE001
            print(f"ottd_moto: streams: restart of {channel.id}: {e!r}", file=sys.stderr, flush=True)


def on_reset() -> None:
    if SERVER is not None:
        SERVER.reset()


def api(method: str, path: str, body: bytes) -> tuple[int, Any]:
    """/ottd-emulator/streams...: (status, JSON-able body)."""
    if SERVER is None:
        return 404, {"message": "streams are off: start ottd_moto.py with --streams DIR"}
    rest = path[len("/ottd-emulator/streams"):].strip("/")
    if rest == "" and method == "GET":
        return 200, SERVER.listing()
    if rest == "counters" and method == "DELETE":
        SERVER.reset_counters()
        return 200, SERVER.listing()
    if rest and "/" not in rest and rest != "counters" and method == "POST":
        try:
            what = json.loads(body or b"{}").get("do")
        except (ValueError, AttributeError):
            return 400, {"message": 'the body must be JSON: {"do": "freeze"|"thaw"|"stop"|"start"|"break"|"mend"}'}
        return SERVER.control(rest, what)
    return 404, {"message": f"no such ottd-emulator endpoint: {method} {path}"}
