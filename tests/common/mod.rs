//! Test harness: the AWS emulator (moto's server mode plus ottd's extension, started from
//! `tests/emulator/ottd_moto.py`) and a throw-away ottd configuration pointing at it.
//!
//! The emulator is found as `$OTTD_PYTHON`, else `~/.cache/ottd-venv/bin/python` (what
//! `.ci/run` installs), else `python3`. If it cannot start, the test fails and says why.
#![allow(dead_code)]

pub mod received;
pub mod slack;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use ottd::aws::Aws;
use ottd::config::Catalog;
use ottd::engine::{Engine, Progress, StepLine};
use ottd::lifecycle::Phase;
use ottd::store::Store;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("OTTD_PYTHON") {
        return PathBuf::from(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = Path::new(&home).join(".cache/ottd-venv/bin/python");
        if venv.exists() {
            return venv;
        }
    }
    PathBuf::from("python3")
}

/// One emulator process on a free loopback port, killed on drop.
pub struct Emulator {
    child: Child,
    pub url: String,
    /// With [`Emulator::start_with_streams`]: the stream server, `https://127.0.0.1:PORT`. It
    /// answers for MediaPackage endpoint hosts and CloudFront domains (connect here, with the
    /// URL's host as TLS server name and Host header).
    pub streams_url: Option<String>,
    /// With [`Emulator::start_with_streams`]: the test CA (PEM) the stream server's
    /// certificates are issued by.
    pub ca_pem: Option<PathBuf>,
    /// While this file exists, CloudFront keeps updated distributions InProgress.
    settle_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// What the emulator printed once ready: `OTTD_MOTO_READY <url>`, after
/// `OTTD_STREAMS_READY <streams url> <ca.pem>` when it serves streams.
struct Ready {
    url: String,
    streams: Option<(String, PathBuf)>,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::launch(false)
    }

    /// The emulator with live streams (`--streams`, segments of 1 s): each RUNNING MediaLive
    /// channel gets an ffmpeg encode, served at its MediaPackage endpoints and CloudFront
    /// domains (see tests/emulator/README.md). Needs ffmpeg (`scripts/emulator.sh`'s
    /// `ensure_ffmpeg`); each streaming channel costs about 5 % of a core.
    pub fn start_with_streams() -> Emulator {
        Emulator::launch(true)
    }

    fn launch(streams: bool) -> Emulator {
        let script = repo().join("tests/emulator/ottd_moto.py");
        let py = python();
        // The emulator logs every request: a pipe nobody reads would fill and block it.
        let log = tempfile::tempfile().expect("emulator log file");
        let log_for_child = log.try_clone().expect("emulator log file");
        let dir = tempfile::tempdir().expect("emulator temp dir");
        let settle_file = dir.path().join("cloudfront-settling");
        let mut cmd = Command::new(&py);
        cmd.arg(&script).args(["--host", "127.0.0.1", "--port", "0"]).arg("--cloudfront-settle-file").arg(&settle_file);
        if streams {
            cmd.arg("--streams").arg(dir.path().join("streams"));
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::from(log_for_child)).spawn().unwrap_or_else(|e| {
            panic!("cannot run {} {}: {e} (install the emulator: see README)", py.display(), script.display())
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut streams = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("OTTD_STREAMS_READY ") {
                    let mut fields = rest.split_whitespace();
                    if let (Some(url), Some(ca)) = (fields.next(), fields.next()) {
                        streams = Some((url.to_string(), PathBuf::from(ca)));
                    }
                }
                if let Some(url) = line.strip_prefix("OTTD_MOTO_READY ") {
                    let _ = tx.send(Ready { url: url.trim().to_string(), streams: streams.take() });
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(Ready { url, streams: got }) if got.is_some() || !streams => {
                let (streams_url, ca_pem) = got.map(|(u, c)| (Some(u), Some(c))).unwrap_or((None, None));
                Emulator { child, url, streams_url, ca_pem, settle_file, _dir: dir }
            }
            Ok(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the AWS emulator started without its stream server (no OTTD_STREAMS_READY line)\n{}",
                    read_all(&log)
                );
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let out = read_all(&log);
                panic!(
                    "the AWS emulator did not start ({} {}). Is moto[server] installed? \
                     Run: python3 -m venv ~/.cache/ottd-venv && ~/.cache/ottd-venv/bin/pip install -r tests/emulator/requirements.txt\n{out}",
                    py.display(),
                    script.display()
                );
            }
        }
    }
}

impl Emulator {
    /// Keep distributions updated from now on InProgress (a disable "taking minutes"), until
    /// [`Emulator::settle_cloudfront`].
    pub fn hold_cloudfront(&self) {
        std::fs::write(&self.settle_file, b"").expect("write the settle file");
    }

    pub fn settle_cloudfront(&self) {
        std::fs::remove_file(&self.settle_file).expect("remove the settle file");
    }
}

impl Emulator {
    /// `POST /ottd-emulator/streams/<channel_id>` `{"do": what}` (`freeze`, `thaw`, `stop`,
    /// `start`, `break`, `mend`): the stream as the emulator describes it afterwards. Panics
    /// unless the emulator answers 200 (streams off, unknown channel, `start` on a channel that
    /// is not RUNNING, `freeze` with no encoder running).
    pub fn stream_control(&self, channel_id: &str, what: &str) -> serde_json::Value {
        let url = format!("{}/ottd-emulator/streams/{channel_id}", self.url);
        let body = serde_json::json!({ "do": what }).to_string();
        let (status, answer) = http_post(&url, &[("Content-Type", "application/json".into())], &body);
        assert_eq!(status, 200, "stream control {what} of {channel_id}: {answer}");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("stream control answer {answer:?}: {e}"))
    }

    /// `GET /ottd-emulator/streams`: `{"url", "ca_pem", "segment_seconds", "streams": [{
    /// "channel_id", "state" (running/frozen/stopped/broken), "first_segment_at" (RFC 3339,
    /// ms), "segment_seconds", "hops": {"origin", "cdn", "cdn_to_origin"}: {"requests",
    /// "bytes"}, ...}], "unattributed": {...}}`. Panics unless the emulator serves streams.
    pub fn streams(&self) -> serde_json::Value {
        let (status, body) = http_get(&format!("{}/ottd-emulator/streams", self.url));
        assert_eq!(status, 200, "GET /ottd-emulator/streams: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("streams listing {body:?}: {e}"))
    }

    /// The stream of one channel in [`Emulator::streams`], if it ever ran.
    pub fn stream(&self, channel_id: &str) -> Option<serde_json::Value> {
        let listing = self.streams();
        listing["streams"].as_array()?.iter().find(|s| s["channel_id"] == channel_id).cloned()
    }

    /// `DELETE /ottd-emulator/streams/counters`: every stream's request and byte counters to 0.
    pub fn reset_stream_counters(&self) {
        let (status, body) = http_request("DELETE", &format!("{}/ottd-emulator/streams/counters", self.url), &[], "");
        assert_eq!(status, 200, "DELETE /ottd-emulator/streams/counters: {body}");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/emulator/delay_proxy.py` in front of an emulator, answering 503 to the requests
/// its `--fail` rules name; killed on drop.
pub struct Proxy {
    child: Child,
    pub url: String,
    log: std::fs::File,
}

impl Proxy {
    /// `fail`: rules `REGEX=N` on "METHOD /path" (see the script). No added delay.
    pub fn start(upstream: &str, fail: &[&str]) -> Proxy {
        let args: Vec<&str> = fail.iter().flat_map(|rule| ["--fail", rule]).collect();
        Proxy::start_args(upstream, &args)
    }

    /// The proxy with fault-rule arguments as the script takes them, e.g.
    /// `["--lose", "^POST /prod/inputs$=1"]`. No added delay.
    pub fn start_args(upstream: &str, args: &[&str]) -> Proxy {
        let script = repo().join("tests/emulator/delay_proxy.py");
        let log = tempfile::tempfile().expect("proxy log file");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--upstream", upstream, "--delay-ms", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone().expect("proxy log file")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).expect("proxy output");
        match first.strip_prefix("OTTD_PROXY_READY ") {
            Some(url) => Proxy { child, url: url.trim().to_string(), log },
            None => {
                let _ = child.kill();
                panic!("the proxy did not start: {first:?}\n{}", read_all(&log));
            }
        }
    }

    /// What the proxy logged so far (one line per injected 503).
    pub fn log(&self) -> String {
        read_all(&self.log)
    }

    /// Whether a request `--stall`ed on a key containing `key` has been answered (the answer is
    /// in the client's socket, read or not).
    pub fn stall_done(&self, key: &str) -> bool {
        self.log().lines().any(|l| l.starts_with("delay_proxy: answered") && l.contains(key))
    }
}

fn read_all(file: &std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut f = file;
    let mut out = String::new();
    let _ = f.seek(std::io::SeekFrom::Start(0)).and_then(|_| f.read_to_string(&mut out));
    out
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Progress lines collected for assertions and printed for the test log.
#[derive(Default)]
pub struct Lines(pub std::sync::Mutex<Vec<StepLine>>);

impl Progress for Lines {
    fn step(&self, l: &StepLine) {
        eprintln!("  {:>6.2}s {:<8} {} {}", l.elapsed.as_secs_f64(), l.outcome.as_str(), l.step, l.detail);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(l.clone());
    }
}

/// A temporary ottd setup: config folder, schedule file with the given events, state file.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub emu: Emulator,
    pub config: PathBuf,
    /// Where ottd sends AWS requests: the emulator, or a proxy in front of it.
    pub endpoint: String,
}

pub fn setup(schedule: &str) -> Setup {
    setup_on(Emulator::start(), schedule)
}

/// [`setup`] on an emulator that serves live streams, with the stream probe on: it reaches
/// the emulator's MediaPackage and CloudFront names at its stream server, trusting its test
/// CA, and looks every second (`extra_probe`: more `[probe]` keys, each ending in a newline).
pub fn setup_live(schedule: &str, extra_probe: &str) -> Setup {
    let s = setup_on(Emulator::start_with_streams(), schedule);
    let streams = s.emu.streams_url.clone().expect("the stream server's URL");
    let addr = streams.trim_start_matches("https://").trim_end_matches('/').to_string();
    let ca = s.emu.ca_pem.clone().expect("the stream server's CA");
    let probe = format!(
        "[probe]\nenabled = true\nconnect_to = [\"*.cloudfront.net={addr}\", \"*.amazonaws.com={addr}\"]\nca_bundle = \"{}\"\ncdn_ttl = \"0s\"\n{extra_probe}",
        ca.display()
    );
    let text = std::fs::read_to_string(&s.config).expect("config");
    assert!(text.contains("[probe]\nenabled = false\n"), "the test config turns the probe off");
    std::fs::write(&s.config, text.replace("[probe]\nenabled = false\n", &probe)).expect("write config");
    s
}

/// [`setup`] on an emulator with live streams ([`Emulator::start_with_streams`]).
pub fn setup_with_streams(schedule: &str) -> Setup {
    setup_on(Emulator::start_with_streams(), schedule)
}

/// [`setup`] on a given emulator.
pub fn setup_on(emu: Emulator, schedule: &str) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let schedules = dir.path().join("schedules");
    std::fs::create_dir_all(&schedules).expect("mkdir");
    std::fs::write(schedules.join("events.toml"), schedule).expect("write schedule");
    let config = dir.path().join("ottd.toml");
    let toml = format!(
        "[aws]\nregion = \"us-east-1\"\n[paths]\nstate = \"{state}\"\nworkflow = \"{wf}\"\nschedules = \"{sch}\"\nencoding_profiles = \"{prof}\"\n[naming]\nprefix = \"ottd\"\n[tags]\nProject = \"tests\"\n[engine]\npoll_interval = \"100ms\"\nstart_timeout = \"30s\"\nstop_timeout = \"30s\"\ndistribution_wait = \"10s\"\n[daemon]\nlisten = \"127.0.0.1:0\"\nresync_interval = \"5s\"\n[probe]\nenabled = false\n",
        state = dir.path().join("ottd.db").display(),
        wf = repo().join("config/workflow.toml").display(),
        sch = schedules.display(),
        prof = repo().join("encoding-profiles").display(),
    );
    std::fs::write(&config, toml).expect("write config");
    let endpoint = emu.url.clone();
    Setup { dir, emu, config, endpoint }
}

impl Setup {
    pub fn catalog(&self) -> Catalog {
        Catalog::load(&self.config).unwrap_or_else(|d| panic!("test config invalid:\n{d}"))
    }

    pub async fn aws(&self) -> Aws {
        Aws::from_conf(&self.sdk_config().await)
    }

    /// The AWS SDK's configuration for this emulator, as the daemons under test have it.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let settings = self.catalog().settings;
        let creds = aws_sdk_medialive::config::Credentials::new("test", "test", None, None, "ottd-tests");
        Aws::loader(&settings).endpoint_url(&self.endpoint).credentials_provider(creds).load().await
    }

    /// The state the configuration names (the SQLite file, or the DynamoDB table), as a test
    /// observer sees it.
    pub async fn state(&self) -> Store {
        match self.catalog().settings.state {
            ottd::config::settings::StateBackend::Sqlite => Store::open(&self.state_path()).expect("state file"),
            ottd::config::settings::StateBackend::Dynamodb { table } => {
                Store::open_dynamo(&self.sdk_config().await, &table).await.expect("state table")
            }
        }
    }

    /// An engine on the emulator with the IAM roles bootstrapped (through IAM, as users do).
    pub async fn engine(&self, progress: Arc<dyn Progress>) -> Engine {
        let settings = self.catalog().settings;
        let store = Arc::new(Store::open(&settings.state_path).expect("state file"));
        let aws = self.aws().await;
        if store.meta("roles.medialive").expect("meta").is_none() {
            let roles = ottd::aws::iam::bootstrap(&aws.iam, &settings.prefix).await.expect("bootstrap roles");
            store.set_meta("roles.medialive", &roles.medialive).wait().expect("meta");
            store.set_meta("roles.mediapackage", &roles.mediapackage).wait().expect("meta");
        }
        Engine::new(aws, store, settings, progress)
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("ottd.db")
    }

    pub fn schedule_file(&self, name: &str) -> PathBuf {
        self.dir.path().join("schedules").join(name)
    }

    /// Add TOML at the end of the test's ottd.toml (chat, policies, grants).
    pub fn append_config(&self, text: &str) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.config).expect("config");
        f.write_all(text.as_bytes()).expect("append to the test config");
    }

    /// Run `ottd ARGS` against this emulator and configuration; panics on failure.
    pub fn ottd(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ottd")).args(args).envs(self.env()).output().expect("run ottd");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "ottd {args:?} failed:\n{text}");
        text
    }

    /// Environment for running the `ottd` binary against this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("OTTD_CONFIG", self.config.display().to_string()),
        ]
    }
}

/// `ottd run` as a child process, its output in a log file; killed (as with kill -9) on drop.
pub struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    pub fn start(s: &Setup, name: &str) -> Daemon {
        Daemon::start_with(s, name, &[])
    }

    /// `ottd run` with more environment (chat secrets).
    pub fn start_with(s: &Setup, name: &str, env: &[(&str, String)]) -> Daemon {
        Daemon::start_under(s, name, &[], env)
    }

    /// `ottd run` as PID 1 of a PID namespace of its own, as in a container
    /// (`unshare --pid --fork --mount-proc --kill-child`: killing it kills the namespace).
    pub fn start_as_pid_1(s: &Setup, name: &str, env: &[(&str, String)]) -> Daemon {
        Daemon::start_under(s, name, &["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"], env)
    }

    /// `ottd run` started through `wrapper` (a command and its arguments, before ottd's path).
    fn start_under(s: &Setup, name: &str, wrapper: &[&str], env: &[(&str, String)]) -> Daemon {
        let log = s.dir.path().join(format!("{name}.log"));
        let file = File::create(&log).expect("log file");
        let bin = env!("CARGO_BIN_EXE_ottd");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .arg("run")
            .envs(s.env())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(file.try_clone().expect("log")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ottd run (through {wrapper:?}): {e}"));
        Daemon { child, log }
    }

    /// Send a signal by name (`STOP`, `CONT`) to the daemon's process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([&format!("-{name}"), &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -{name} {pid} failed");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT` of the daemon's listener, once it says it is ready.
    #[allow(dead_code)]
    pub fn base_url(&self) -> String {
        let mut found = None;
        wait_for("the daemon ready", self, Duration::from_secs(30), || {
            found = self.log().lines().find(|l| l.contains("ottd daemon ready")).and_then(|l| {
                let at = l.find("listen=")? + "listen=".len();
                l[at..].split_whitespace().next().map(str::to_string)
            });
            found.is_some()
        });
        format!("http://{}", found.unwrap_or_default())
    }

    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as systemd stops the service; then wait up to `limit` for the process to exit
    /// (its exit status, or `None` if it was still running and got killed).
    #[allow(dead_code)]
    pub fn terminate(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// kill -9: no chance to checkpoint anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn phase(store: &Store, id: &str) -> Option<Phase> {
    store.deployment(id).ok().flatten().map(|d| d.phase)
}

/// Poll the state file until `want` holds; the daemon writes it, nothing else can signal us.
pub fn wait_for(what: &str, d: &Daemon, limit: Duration, mut want: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if want() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}; daemon log:\n{}", d.log());
}

/// A plain HTTP/1.1 POST; answers (status, body).
pub fn http_post(url: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let (status, body) = http_request("POST", url, headers, body);
    // Chunked bodies (axum's JSON is not chunked, but be safe): keep only the JSON part.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if b >= a => body[a..=b].to_string(),
        _ => body,
    };
    (status, body)
}

/// A plain HTTP/1.1 GET; answers (status, body).
pub fn http_get(url: &str) -> (u16, String) {
    http_request("GET", url, &[], "")
}

/// A plain HTTP/1.1 request (no chunked bodies: the emulator's test endpoints send a length);
/// answers (status, body).
pub fn http_request(method: &str, url: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let rest = url.trim_start_matches("http://");
    let (hostport, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(hostport).expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The MediaLive channel id recorded for `event`.
pub fn channel_id(store: &Store, event: &str) -> String {
    store.resource(event, "channel").expect("q").and_then(|r| r.aws_id).expect("channel id")
}

/// A MediaLive channel alert put on EventBridge as MediaLive would (the rule `bootstrap` made
/// routes it to the daemon's queue).
pub async fn put_alert(s: &Setup, channel: &str, state: &str, alarm_id: &str, alert_type: &str, pipeline: &str) {
    let detail = serde_json::json!({
        "alarm_state": state, "alarm_id": alarm_id, "alert_type": alert_type, "pipeline": pipeline,
        "channel_arn": format!("arn:aws:medialive:channel:{channel}"), "message": "test"
    });
    put_medialive(s, channel, "MediaLive Channel Alert", detail).await;
}

/// Put a MediaLive event of `detail_type` about `channel` on EventBridge, as MediaLive would.
pub async fn put_medialive(s: &Setup, channel: &str, detail_type: &str, detail: serde_json::Value) {
    let aws = s.aws().await;
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("aws.medialive")
        .detail_type(detail_type)
        .resources(format!("arn:aws:medialive:channel:{channel}"))
        .detail(detail.to_string())
        .time(aws_smithy_types::DateTime::from_secs(Utc::now().timestamp()))
        .build();
    let out = aws.events.put_events().entries(entry).send().await.expect("put_events");
    assert_eq!(out.failed_entry_count, 0, "{out:?}");
}

/// `final`, on demand: a single-pipeline URL_PULL event with no schedule.
pub const ON_DEMAND_FINAL: &str = "[[event]]\nid = \"final\"\n[event.mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\ninputType = \"URL_PULL\"\npriUrl = \"https://example.com/final/index.m3u8\"\n[event.cloudFront]\naccess_logs = false\n";

/// An event on air from a few seconds from now for `secs`; `extra`: more keys of the event
/// (`notify = [...]`), each ending in a newline.
pub fn on_air_event(id: &str, secs: i64, extra: &str) -> String {
    let start = Utc::now() + chrono::Duration::seconds(4);
    format!(
        "[[event]]\nid = \"{id}\"\n{extra}start = \"{}\"\nend = \"{}\"\ndeploy_before = \"3s\"\nstart_before = \"2s\"\n[event.mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\ninputType = \"URL_PULL\"\npriUrl = \"https://example.com/{id}/index.m3u8\"\n[event.cloudFront]\naccess_logs = false\n",
        rfc3339(start),
        rfc3339(start + chrono::Duration::seconds(secs))
    )
}

pub fn tag_is(tags: Option<&std::collections::HashMap<String, String>>, key: &str, value: &str) -> bool {
    tags.and_then(|t| t.get(key)).is_some_and(|v| v == value)
}

/// How many live resources of each kind AWS holds for one event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub channels: usize,
    pub inputs: usize,
    pub security_groups: usize,
    pub package_channels: usize,
    pub endpoints: usize,
    pub distributions: usize,
    pub buckets: usize,
    pub secrets: usize,
}

pub async fn census(aws: &Aws, event: &str) -> Census {
    let prefix = format!("ottd-{event}-");
    let mut c = Census::default();
    let chans = aws.medialive.list_channels().send().await.expect("list channels");
    c.channels = chans
        .channels()
        .iter()
        .filter(|ch| tag_is(ch.tags(), "ottd:event", event))
        .filter(|ch| !matches!(ch.state().map(|s| s.as_str()), Some("DELETED" | "DELETING")))
        .count();
    let inputs = aws.medialive.list_inputs().send().await.expect("list inputs");
    for i in inputs.inputs() {
        if !tag_is(i.tags(), "ottd:event", event) {
            continue;
        }
        // Lists lag behind deletes in the emulator; describe gives the settled state.
        let d =
            aws.medialive.describe_input().input_id(i.id().unwrap_or_default()).send().await.expect("describe input");
        if !matches!(d.state().map(|s| s.as_str()), Some("DELETED" | "DELETING")) {
            c.inputs += 1;
        }
    }
    let sgs = aws.medialive.list_input_security_groups().send().await.expect("list security groups");
    c.security_groups = sgs.input_security_groups().iter().filter(|g| tag_is(g.tags(), "ottd:event", event)).count();
    let mp = aws.mediapackage.list_channels().send().await.expect("list package channels");
    c.package_channels = mp.channels().iter().filter(|ch| ch.id().is_some_and(|i| i.starts_with(&prefix))).count();
    let eps = aws.mediapackage.list_origin_endpoints().send().await.expect("list endpoints");
    c.endpoints = eps.origin_endpoints().iter().filter(|e| e.id().is_some_and(|i| i.starts_with(&prefix))).count();
    let dists = aws.cloudfront.list_distributions().send().await.expect("list distributions");
    c.distributions = dists
        .distribution_list()
        .map(|l| l.items().iter().filter(|d| d.comment().starts_with(&format!("ottd {event} "))).count())
        .unwrap_or(0);
    let buckets = aws.s3.list_buckets().send().await.expect("list buckets");
    c.buckets = buckets.buckets().iter().filter(|b| b.name().is_some_and(|n| n.starts_with(&prefix))).count();
    let secrets = aws.secrets.list_secrets().send().await.expect("list secrets");
    c.secrets = secrets
        .secret_list()
        .iter()
        .filter(|s| s.name().is_some_and(|n| n.starts_with(&format!("ottd/{event}/"))))
        .count();
    c
}
