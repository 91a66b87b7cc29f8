//! Loopback load generator for the ChatOps benchmark (issue 14, `scripts/bench-chat.sh`):
//! Slack slash commands (`/ott <text>`), signed exactly as Slack signs them, sent over
//! `--connections` persistent HTTP/1.1 keep-alive connections, each a closed loop (send one
//! request, read its whole response, record the time, send the next).
//!
//! Every request is signed afresh: `X-Slack-Request-Timestamp` is the current Unix second and
//! `X-Slack-Signature` is `v0=` + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)),
//! the body being the `application/x-www-form-urlencoded` form Slack posts (token, team_id,
//! team_domain, channel_id, channel_name, user_id, user_name, command, text, api_app_id,
//! response_url, trigger_id; the trigger id differs per request).
//!
//! Requests finishing during `--warmup` are not counted; those finishing in the `--duration`
//! after it are. A 2xx response is a success; any other status, a transport failure or a
//! response slower than `--timeout` is an error (a failed connection is opened again).
//! Latency is the time from writing the request to the last byte of the response, of
//! successes only; `rps` counts successes per second.
//!
//! Prints one line of `key=value` figures on stdout:
//! `requests=… errors=… rps=… p50_ms=… p99_ms=… max_ms=…` (then p90/p99.9, the settings, the
//! successes of the whole run, warmup included, `ok_total`, and the generator's own CPU time
//! `cpu_s`), and a breakdown of the errors, if any, on stderr.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "Signed Slack slash commands over keep-alive connections: throughput and latency")]
struct Args {
    /// The slash-command endpoint, http only (e.g. http://127.0.0.1:9180/slack/commands).
    #[arg(long)]
    url: String,
    /// Slack's signing secret the server verifies with.
    #[arg(long)]
    secret: String,
    /// The command's text (what follows `/ott`).
    #[arg(long, default_value = "status tonight")]
    text: String,
    /// Concurrent keep-alive connections, each a closed loop.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to measure, after the warmup.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long to run before measuring.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// A response not complete after this long is an error (and its connection is dropped).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Worker threads of the generator's runtime (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the status and body of the first response on stderr.
    #[arg(long)]
    show_reply: bool,
}

/// The target, taken apart once.
struct Target {
    addr: String,
    host: String,
    path: String,
}

struct Signer {
    key: Hmac<Sha256>,
    /// The form, less the trigger id (appended per request).
    form: String,
}

impl Signer {
    fn new(secret: &str, text: &str) -> Signer {
        let key = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        let fields = [
            ("token", "bench-verification-token"),
            ("team_id", "T0BENCH01"),
            ("team_domain", "ottd-bench"),
            ("channel_id", "C0BENCH01"),
            ("channel_name", "live-ops"),
            ("user_id", "U0BENCH01"),
            ("user_name", "bench"),
            ("command", "/ott"),
            ("text", text),
            ("api_app_id", "A0BENCH01"),
            ("response_url", "http://127.0.0.1:9/unused"),
        ];
        let mut form = String::new();
        for (k, v) in fields {
            form.push_str(k);
            form.push('=');
            form_encode(&mut form, v);
            form.push('&');
        }
        form.push_str("trigger_id=");
        Signer { key, form }
    }

    /// (body, timestamp, signature) for request `seq` of connection `conn`.
    fn sign(&self, conn: usize, seq: u64) -> (Bytes, String, String) {
        let mut body = String::with_capacity(self.form.len() + 40);
        body.push_str(&self.form);
        let _ = write!(body, "{conn}.{seq}.0bench");
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs().to_string();
        let mut mac = self.key.clone();
        mac.update(b"v0:");
        mac.update(ts.as_bytes());
        mac.update(b":");
        mac.update(body.as_bytes());
        let sig = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        (Bytes::from(body), ts, sig)
    }
}

/// application/x-www-form-urlencoded, as Slack sends it.
fn form_encode(out: &mut String, v: &str) {
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

#[derive(Default)]
struct Tally {
    /// Latencies of the measured successes, in microseconds.
    lat_us: Vec<u32>,
    /// Measured errors by kind ("status 401", "transport: …", "timeout").
    errors: BTreeMap<String, u64>,
    /// Errors during the warmup, by kind.
    warmup_errors: BTreeMap<String, u64>,
    /// Successes over the whole run, warmup included (for requests per server CPU-second).
    ok_total: u64,
}

struct Clock {
    measure_from: Instant,
    end: Instant,
}

fn main() {
    let args = Args::parse();
    let uri: Uri = args.url.parse().unwrap_or_else(|e| die(&format!("--url {}: {e}", args.url)));
    if uri.scheme_str() != Some("http") {
        die("--url: only http:// URLs");
    }
    let host = uri.host().unwrap_or_else(|| die("--url: no host"));
    let port = uri.port_u16().unwrap_or(80);
    let target = Arc::new(Target {
        addr: format!("{host}:{port}"),
        host: uri.authority().map(|a| a.to_string()).unwrap_or_else(|| host.to_string()),
        path: uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into()),
    });
    if args.connections == 0 {
        die("--connections: at least 1");
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if args.threads > 0 {
        rt.worker_threads(args.threads);
    }
    let rt = rt.build().unwrap_or_else(|e| die(&format!("tokio runtime: {e}")));
    let signer = Arc::new(Signer::new(&args.secret, &args.text));

    let tallies = rt.block_on(async {
        let start = Instant::now();
        let clock = Arc::new(Clock { measure_from: start + args.warmup, end: start + args.warmup + args.duration });
        let show = Arc::new(std::sync::atomic::AtomicBool::new(args.show_reply));
        let tasks: Vec<_> = (0..args.connections)
            .map(|conn| {
                let (target, signer, clock, show) = (target.clone(), signer.clone(), clock.clone(), show.clone());
                let timeout = args.timeout;
                tokio::spawn(async move { closed_loop(conn, &target, &signer, &clock, timeout, &show).await })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| die(&format!("connection task: {e}"))));
        }
        out
    });

    let mut lat: Vec<u32> = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut warmup_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut ok_total = 0u64;
    for t in tallies {
        ok_total += t.ok_total;
        lat.extend_from_slice(&t.lat_us);
        for (k, n) in t.errors {
            *errors.entry(k).or_default() += n;
        }
        for (k, n) in t.warmup_errors {
            *warmup_errors.entry(k).or_default() += n;
        }
    }
    lat.sort_unstable();
    let n_err: u64 = errors.values().sum();
    let n_ok = lat.len() as u64;
    let secs = args.duration.as_secs_f64();
    let ms = |us: u32| us as f64 / 1000.0;
    println!(
        "requests={} errors={} rps={:.0} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} p90_ms={:.3} p999_ms={:.3} \
         connections={} duration_s={} warmup_s={} ok_total={} cpu_s={:.2}",
        n_ok + n_err,
        n_err,
        n_ok as f64 / secs,
        ms(pct(&lat, 0.50)),
        ms(pct(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or(0)),
        ms(pct(&lat, 0.90)),
        ms(pct(&lat, 0.999)),
        args.connections,
        args.duration.as_secs_f64(),
        args.warmup.as_secs_f64(),
        ok_total,
        own_cpu_s(),
    );
    for (kind, n) in &errors {
        eprintln!("chat-load: error {kind}: {n}");
    }
    for (kind, n) in &warmup_errors {
        eprintln!("chat-load: error during the warmup {kind}: {n}");
    }
    if n_ok == 0 {
        eprintln!("chat-load: no successful request");
        std::process::exit(1);
    }
}

/// The generator's own CPU time (user + system, every thread) so far, from /proc/self/stat,
/// whose clock ticks are USER_HZ, 100 per second on Linux; 0 where there is no /proc.
fn own_cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Nearest rank.
fn pct(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn die(msg: &str) -> ! {
    eprintln!("chat-load: {msg}");
    std::process::exit(2)
}

async fn closed_loop(
    conn: usize,
    target: &Target,
    signer: &Signer,
    clock: &Clock,
    timeout: Duration,
    show: &std::sync::atomic::AtomicBool,
) -> Tally {
    let mut tally = Tally { lat_us: Vec::with_capacity(1 << 16), ..Tally::default() };
    let mut seq = 0u64;
    let note = |tally: &mut Tally, at: Instant, kind: String| {
        if at >= clock.end {
            return;
        }
        let map = if at >= clock.measure_from { &mut tally.errors } else { &mut tally.warmup_errors };
        *map.entry(kind).or_default() += 1;
    };
    'connect: while Instant::now() < clock.end {
        let stream = match TcpStream::connect(&target.addr).await {
            Ok(s) => s,
            Err(e) => {
                note(&mut tally, Instant::now(), format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(x) => x,
            Err(e) => {
                note(&mut tally, Instant::now(), format!("handshake: {e}"));
                continue;
            }
        };
        let driver = tokio::spawn(connection);
        loop {
            if Instant::now() >= clock.end {
                break 'connect;
            }
            seq += 1;
            let (body, ts, sig) = signer.sign(conn, seq);
            let req = Request::builder()
                .method(Method::POST)
                .uri(target.path.as_str())
                .header(HOST, target.host.as_str())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(CONTENT_LENGTH, body.len())
                .header("x-slack-request-timestamp", ts)
                .header("x-slack-signature", sig)
                .header("user-agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
                .body(Full::new(body))
                .expect("a valid request");
            if sender.ready().await.is_err() {
                // The server closed the connection between two requests: open another.
                driver.abort();
                continue 'connect;
            }
            let t0 = Instant::now();
            let result = tokio::time::timeout(timeout, async {
                let resp = sender.send_request(req).await?;
                let (parts, body) = resp.into_parts();
                let bytes = body.collect().await?.to_bytes();
                Ok::<_, hyper::Error>((parts, bytes))
            })
            .await;
            let t1 = Instant::now();
            match result {
                Ok(Ok((parts, bytes))) => {
                    if show.swap(false, std::sync::atomic::Ordering::Relaxed) {
                        eprintln!("chat-load: first reply: {} {}", parts.status, String::from_utf8_lossy(&bytes));
                    }
                    if parts.status.is_success() {
                        tally.ok_total += 1;
                        if t1 >= clock.measure_from && t1 < clock.end {
                            tally.lat_us.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                        }
                    } else {
                        let sample: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
                        note(&mut tally, t1, format!("status {} ({})", parts.status.as_u16(), sample.trim()));
                    }
                    let close =
                        parts.headers.get(CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                    if close {
                        driver.abort();
                        continue 'connect;
                    }
                }
                Ok(Err(e)) => {
                    note(&mut tally, t1, format!("transport: {e}"));
                    driver.abort();
                    continue 'connect;
                }
                Err(_) => {
                    note(&mut tally, t1, format!("timeout ({})", humantime::format_duration(timeout)));
                    driver.abort();
                    continue 'connect;
                }
            }
        }
    }
    tally
}
