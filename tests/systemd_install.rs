//! The README's "Running the daemon under systemd" steps, followed as written, in a temporary
//! root instead of `/`, as far as no live systemd is needed:
//!
//! - the README's `sh` block runs in bash with every absolute path it installs to moved under
//!   the temporary root, `sudo` dropped (and with it `install`'s `-o`/`-g`: the test may not
//!   run as root, and the `ottd` user does not exist here), `useradd`, `systemctl` and the
//!   release build left out (the test's own `ottd` binary is installed instead), and the
//!   `sudoedit` of the environment file replaced by writing the emulator's settings into it;
//! - then, as the installed unit would: `ottd validate` (`ExecStartPre=`) and `ottd run`
//!   (`ExecStart=`) with the unit's `Environment=` and `EnvironmentFile=`, and the daemon must
//!   say READY=1 on `NOTIFY_SOCKET` (`Type=notify`), with `[chat] secrets_file` pointing at
//!   the same environment file, as the Chat section allows;
//! - `bootstrap` must have recorded the IAM roles in the unit's state file;
//! - `systemd-analyze verify` checks the unit when it is installed on this machine.
//!
//! The script runs with an empty environment (no AWS settings but the env file's, no
//! credentials, no instance metadata), so nothing can reach anything but the emulator.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{repo, Emulator};

/// The paths the README installs to; each moves under the temporary root.
const MOVED: [&str; 6] =
    ["/etc/ottd", "/etc/systemd/system", "/var/lib/ottd", "/usr/local/bin", "/usr/local/share", "/opt/ottd"];
/// Folders every systemd machine has before the README's steps begin.
const PRESENT: [&str; 4] = ["etc/systemd/system", "usr/local/bin", "usr/local/share", "var/lib"];

fn readme_systemd_block() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let section = readme.split("### Running the daemon under systemd").nth(1).expect("the README's systemd section");
    let body = section.split("```sh\n").nth(1).expect("a ```sh block in the systemd section");
    body.split("\n```").next().expect("the block's end").to_string()
}

fn moved(text: &str, root: &Path) -> String {
    let re = regex_lite::Regex::new(&format!(r#"(^|[\s'"=-])({})"#, MOVED.join("|"))).expect("regex");
    re.replace_all(text, |c: &regex_lite::Captures<'_>| format!("{}{}{}", &c[1], root.display(), &c[2])).into_owned()
}

/// The README's block as a script for the temporary root (see the module's comment).
fn script(block: &str, root: &Path, bin: &Path, env_file_text: &str) -> String {
    let owner = regex_lite::Regex::new(r"\s-[og]\s+\S+").expect("regex");
    let mut out = String::from("set -euxo pipefail\n");
    for line in block.lines() {
        if let Some(file) = line.trim_start().strip_prefix("sudoedit ") {
            let file = file.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!("cat >> {} <<'OTTD_ENV'\n{env_file_text}OTTD_ENV\n", moved(file, root)));
            continue;
        }
        let parts: Vec<String> = line
            .split(" && ")
            .filter(|p| {
                let p = p.trim_start();
                !(p.starts_with("cargo build") || p.contains("useradd") || p.contains("systemctl"))
            })
            .map(|p| {
                let p = p.replace("sudo -u ottd ", "").replace("sudo ", "");
                let p = p.replace("\"${CARGO_TARGET_DIR:-target}/release/ottd\"", &bin.display().to_string());
                let p = if p.trim_start().starts_with("install ") { owner.replace_all(&p, "").into_owned() } else { p };
                moved(&p, root)
            })
            .collect();
        if !parts.is_empty() {
            out.push_str(&parts.join(" && "));
            out.push('\n');
        }
    }
    // Never let a step write outside the temporary root.
    let outside = regex_lite::Regex::new(r#"(^|[\s'"=])(/(etc|opt|var|srv|usr/local)/\S*)"#).expect("regex");
    if let Some(c) = outside.captures(&out) {
        panic!("the README's systemd steps use {}, which this test does not move under its root", &c[2]);
    }
    out
}

/// `KEY=value` lines as systemd's `EnvironmentFile=` reads them (comments, optional quotes).
fn environment_file(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// What the installed unit gives the daemon: its `Environment=` and `EnvironmentFile=`
/// settings (paths moved under the root), and its `ExecStart=` arguments.
struct Unit {
    env: Vec<(String, String)>,
    exec_start: Vec<String>,
    text: String,
}

fn read_unit(path: &Path, root: &Path) -> Unit {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("the unit was not installed: {e}"));
    let mut env = Vec::new();
    let mut exec_start = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Environment=") {
            let (k, v) = v.split_once('=').expect("Environment=KEY=value");
            env.push((k.to_string(), moved(v, root)));
        } else if let Some(f) = line.strip_prefix("EnvironmentFile=") {
            let optional = f.starts_with('-');
            let file = PathBuf::from(moved(f.trim_start_matches('-'), root));
            if file.exists() || !optional {
                env.extend(environment_file(&file));
            }
        } else if let Some(cmd) = line.strip_prefix("ExecStart=") {
            exec_start = cmd.split_whitespace().skip(1).map(str::to_string).collect();
        }
    }
    Unit { env, exec_start, text }
}

fn run_ottd(bin: &Path, args: &[&str], env: &[(String, String)], root: &Path) -> std::process::Output {
    Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", root.join("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run ottd")
}

#[test]
fn the_readmes_systemd_steps_validate_bootstrap_and_start_the_daemon_in_a_temporary_root() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("home")).expect("mkdir");
    for d in PRESENT {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ottd"));
    let env_file_text = format!(
        "AWS_ENDPOINT_URL={}\nAWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\nAWS_REGION=us-east-1\nRUST_LOG=info\n",
        emu.url
    );
    let block = readme_systemd_block();
    let script = script(&block, &root, &bin, &env_file_text);
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(repo())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", root.join("usr/local/bin").display()))
        .env("HOME", root.join("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", root.join("home/no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", root.join("home/no-aws-credentials"))
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README's systemd steps failed:\n--- script\n{script}--- output\n{log}");

    let unit = read_unit(&root.join("etc/systemd/system/ottd.service"), &root);
    let config = unit.env.iter().find(|(k, _)| k == "OTTD_CONFIG").map(|(_, v)| PathBuf::from(v)).expect("OTTD_CONFIG");
    let state = unit.env.iter().find(|(k, _)| k == "OTTD_STATE").map(|(_, v)| PathBuf::from(v)).expect("OTTD_STATE");

    // The unit's ExecStartPre=.
    let v = run_ottd(&bin, &["validate"], &unit.env, &root);
    assert!(v.status.success(), "ExecStartPre=ottd validate failed:\n{}", String::from_utf8_lossy(&v.stderr));

    // `bootstrap` recorded the roles in the state file the daemon will use.
    let store = ottd::store::Store::open(&state).expect("the unit's state file");
    assert!(store.meta("roles.medialive").expect("meta").is_some(), "bootstrap did not record the roles in {state:?}");
    drop(store);

    // The daemon, as the unit starts it, with the chat secrets read from the same env file
    // (the Chat section's example), on a free port instead of the shipped 9180.
    let text = std::fs::read_to_string(&config).expect("installed ottd.toml");
    let env_file = root.join("etc/ottd/ottd.env");
    let text =
        text.replace("# secrets_file = \"/etc/ottd/chat.env\"", &format!("secrets_file = \"{}\"", env_file.display()));
    assert!(text.contains("secrets_file = \"/"), "the shipped ottd.toml no longer has the secrets_file line");
    let listen = regex_lite::Regex::new(r#"(?m)^listen = .*$"#).expect("regex");
    std::fs::write(&config, listen.replace(&text, "listen = \"127.0.0.1:0\"").as_ref()).expect("write");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("NOTIFY_SOCKET");
    // Short reads, so a daemon that exits instead of getting ready is seen at once.
    socket.set_read_timeout(Some(Duration::from_millis(250))).expect("timeout");
    let daemon_log = dir.path().join("daemon.log");
    let mut child = Command::new(&bin)
        .args(&unit.exec_start)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", root.join("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NOTIFY_SOCKET", &socket_path)
        .envs(unit.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&daemon_log).expect("log"))
        .spawn()
        .expect("start ottd run");
    let mut ready = false;
    let mut buf = [0u8; 4096];
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < until {
        match socket.recv(&mut buf) {
            Ok(n) if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") => {
                ready = true;
                break;
            }
            Ok(_) => {}
            Err(_) if matches!(child.try_wait(), Ok(Some(_))) => break,
            Err(_) => {}
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&daemon_log).unwrap_or_default();
    assert!(ready, "the daemon never said READY=1:\n{log}");

    // The unit file itself, when systemd-analyze is there (not required).
    if let Ok(found) = Command::new("systemd-analyze").arg("--version").output() {
        if found.status.success() {
            verify_unit(&unit.text, &root, dir.path());
        }
    }
}

/// `systemd-analyze verify` on the unit with its paths moved under the root (so the binaries
/// it names exist). Only problems in the unit file count: a container's missing
/// `sysinit.target`, and system calls an older systemd's filter sets do not know, are not
/// the unit's.
fn verify_unit(text: &str, root: &Path, dir: &Path) {
    let copy_dir = dir.join("verify");
    std::fs::create_dir_all(&copy_dir).expect("mkdir");
    let copy = copy_dir.join("ottd.service");
    let text = moved(text, root).replace("/bin/kill", &which("kill"));
    std::fs::write(&copy, text).expect("write");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let problems: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("ottd.service"))
        .filter(|l| !l.contains("Failed to parse system call") && !l.contains("sysinit.target"))
        .collect();
    assert!(problems.is_empty(), "systemd-analyze verify:\n{said}");
}

fn which(cmd: &str) -> String {
    ["/bin", "/usr/bin"]
        .iter()
        .map(|d| format!("{d}/{cmd}"))
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| format!("/bin/{cmd}"))
}
