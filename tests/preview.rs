//! The preview page end to end, in a real browser: the emulator with live streams (ffmpeg, at
//! the CloudFront domain), the daemon putting a timed event on air with its stream probe on,
//! `ottd links` giving the page's address, and Debian's chromium driven by playwright-core
//! (`tests/browser/preview.mjs`) playing the HLS and DASH streams in hls.js and dash.js.
//!
//! Needs `/usr/bin/chromium` and `web/node_modules` (`./scripts/test.sh` installs both); without
//! them it fails, saying how to install them. Never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{on_air_event, phase, repo, setup_with_streams, wait_for, Daemon};
use ottd::lifecycle::Phase;
use ottd::preview::assets::Player;
use ottd::store::Store;
use sha2::Digest;

const CHROMIUM: &str = "/usr/bin/chromium";

/// What the browser test needs, or a panic naming the command that installs it.
fn need_browser_tools() {
    let install = "run ./scripts/test.sh (it installs both), or by hand: apt-get install -y chromium \
                   (with sudo when not root) and npm ci --prefix web";
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: the preview page's browser test needs it; {install}"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing (Debian: apt-get install -y nodejs npm); {install}"
    );
    for m in ["playwright-core/package.json", "hls.js/package.json", "dashjs/package.json"] {
        let p = repo().join("web/node_modules").join(m);
        assert!(p.is_file(), "{} is missing: {install}", p.display());
    }
}

/// A loopback port nobody listens on now (the daemon takes it a moment later).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn the_pinned_players_are_the_files_npm_installed() {
    need_browser_tools();
    let dir = repo().join("web/node_modules");
    let lock = std::fs::read_to_string(repo().join("web/package-lock.json")).expect("web/package-lock.json");
    let lock: serde_json::Value = serde_json::from_str(&lock).expect("lock is JSON");
    for p in Player::ALL {
        let (name, version) = p.package();
        assert_eq!(lock["packages"][format!("node_modules/{name}")]["version"], version, "{name} in the lock");
        let file = p.locate(&dir).unwrap_or_else(|| panic!("{}", p.missing(&dir)));
        let bytes = std::fs::read(&file).expect("read player");
        let sri = format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&bytes)));
        assert_eq!(sri, p.integrity(), "{}: the CDN fallback's integrity must be the npm file's", file.display());
    }
    assert!(!lock.to_string().contains("\"resolved\""), "the lock records no download addresses (web/.npmrc)");
}

#[test]
fn the_preview_page_plays_hls_and_dash_in_chromium_with_the_probe_live() {
    let started = Instant::now();
    need_browser_tools();
    let s = setup_with_streams(&on_air_event("final", 900, ""));
    let streams = s.emu.streams_url.clone().expect("the emulator's stream server");
    let streams = streams.trim_start_matches("https://").to_string();
    let ca = s.emu.ca_pem.clone().expect("the emulator's test CA");
    let port = free_port();
    // The probe reaches the emulator's CloudFront and MediaPackage names on its stream server,
    // trusting its CA; the daemon listens where the links say; the players come from web/.
    let config = std::fs::read_to_string(&s.config).expect("config");
    let config = config
        .replace(
            "[probe]\nenabled = false\n",
            &format!(
                "[probe]\nenabled = true\nconnect_to = [\"*.cloudfront.net={streams}\", \"*.amazonaws.com={streams}\"]\nca_bundle = \"{}\"\n[preview]\nassets = \"{}\"\n",
                ca.display(),
                repo().join("web/node_modules").display()
            ),
        )
        .replace(
            "listen = \"127.0.0.1:0\"\n",
            &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n"),
        );
    assert!(config.contains("enabled = true") && config.contains("public_url"), "{config}");
    std::fs::write(&s.config, config).expect("write config");
    s.ottd(&["bootstrap"]);
    let d = Daemon::start(&s, "daemon");
    let store = Store::open(&s.state_path()).expect("state");
    // RUNNING in MediaLive; the page waits for the probe's word itself.
    wait_for("the event running", &d, Duration::from_secs(120), || phase(&store, "final") == Some(Phase::Running));
    let on_air = started.elapsed();

    let links: serde_json::Value =
        serde_json::from_str(&s.ottd(&["--output", "json", "links", "final"])).expect("links JSON");
    let url = links["preview"].as_str().unwrap_or_else(|| panic!("no preview link: {links}")).to_string();
    let prefix = format!("http://127.0.0.1:{port}/preview/final?t=");
    assert!(url.starts_with(&prefix), "{url}");
    let token = &url[prefix.len()..];
    assert_eq!(token.len(), 32, "128 bits, hex");
    let wrong = format!("{prefix}{}", token.chars().rev().collect::<String>());
    let (status, body) = common::http_get(&wrong);
    assert_eq!((status, body.as_str()), (404, "not found\n"), "a wrong token");
    let (status, page) = common::http_get(&url);
    assert_eq!(status, 200, "{page}");

    let shot: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("preview.png");
    let _ = std::fs::remove_file(&shot);
    let args = serde_json::json!({
        "url": url, "wrong": wrong, "streams": streams, "ca": ca, "screenshot": shot, "watch": 6,
    });
    let browser = Instant::now();
    let out = Command::new("node")
        .arg(repo().join("tests/browser/preview.mjs"))
        .arg(args.to_string())
        .output()
        .expect("run node");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed:\n{stderr}\n{stdout}\ndaemon log:\n{}", d.log());
    let got: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("result JSON");
    let (hls, dash) = (got["advance"]["hls"].as_f64().unwrap_or(0.0), got["advance"]["dash"].as_f64().unwrap_or(0.0));
    assert!(hls >= 2.0 && dash >= 2.0, "{got}");
    assert_eq!(got["probe"], "live", "{got}");
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    eprintln!(
        "preview: running after {:.1} s; in chromium: currentTime advanced {hls:.2} s (hls.js) and {dash:.2} s \
         (dash.js) in {} s, latency hls.js {:.2} s, dash.js {:.2} s; browser part {:.1} s, whole test {:.1} s; \
         screenshot {}",
        on_air.as_secs_f64(),
        got["watch"],
        got["latency"]["hls"].as_f64().unwrap_or(f64::NAN),
        got["latency"]["dash"].as_f64().unwrap_or(f64::NAN),
        browser.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
        shot.display()
    );

    // A link that went too far: after `rotate-preview` the old one stops opening (within the
    // daemon's token cache) and the new one opens.
    let rotated = s.ottd(&["--output", "json", "rotate-preview", "final"]);
    let fresh = rotated.split('"').find(|w| w.starts_with(&prefix)).expect("the new link").to_string();
    assert_ne!(fresh, url, "{rotated}");
    wait_for("the old link refused", &d, Duration::from_secs(20), || common::http_get(&url).0 == 404);
    assert_eq!(common::http_get(&fresh).0, 200, "the new link opens");
}
