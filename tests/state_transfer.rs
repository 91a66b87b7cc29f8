//! A single box grows into a pair with `ottd state export` and `ottd state import`, end to end
//! through the binary on the emulator: an event deployed on SQLite is, after the move, shown
//! and torn down from the DynamoDB table, and exactly the resources the box created go;
//! nothing is adopted by hand. A broken snapshot is refused at its file, line and column and
//! changes nothing.

mod common;

use std::process::Command;

use common::{census, setup, Census, Setup, ON_DEMAND_FINAL};
use ottd::store::Snapshot;

/// Run `ottd ARGS`, expecting it to fail; its output.
fn ottd_fails(s: &Setup, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ottd")).args(args).envs(s.env()).output().expect("run ottd");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "ottd {args:?} succeeded:\n{text}");
    text
}

/// The records of the store the configuration names, whenever taken.
async fn records(s: &Setup) -> Snapshot {
    let snapshot = s.state().await.export().expect("export");
    Snapshot { exported_at: chrono::DateTime::UNIX_EPOCH, ..snapshot }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_becomes_a_pair_and_the_pair_tears_down_what_the_box_deployed() {
    let started = std::time::Instant::now();
    let s = setup(ON_DEMAND_FINAL);
    s.ottd(&["bootstrap"]);
    s.ottd(&["deploy", "final"]);
    let aws = s.aws().await;
    let deployed = census(&aws, "final").await;
    assert!(deployed.channels == 1 && deployed.inputs == 1 && deployed.distributions == 1, "{deployed:?}");
    let on_the_box = s.state().await.resources("final").expect("resources");

    let file = s.dir.path().join("state.json");
    let path = file.display().to_string();
    let out = s.ottd(&["state", "export", "--out", &path]);
    assert!(out.contains(&format!("exported 1 deployments, {} resources", on_the_box.len())), "{out}");
    assert!(out.contains(&format!("to {path}")), "{out}");
    eprintln!("{out}");
    let snapshot = Snapshot::parse(&std::fs::read_to_string(&file).expect("read")).expect("a snapshot");
    assert!(snapshot.meta.contains_key("roles.medialive"), "bootstrap's settings travel: {:?}", snapshot.meta);

    // The pair's configuration: the same files, the state in a DynamoDB table (made by import).
    s.append_config("[state]\nbackend = \"dynamodb\"\ntable = \"ottd-state\"\n");
    let out = s.ottd(&["state", "import", &path]);
    assert!(out.contains(&format!("imported {path} into DynamoDB table ottd-state:")), "{out}");
    assert!(out.contains(" 0 updated, 0 unchanged, 0 kept newer here"), "{out}");
    eprintln!("{out}");
    let out = s.ottd(&["state", "import", &path]);
    assert!(out.contains(": 0 new, 0 updated,"), "a second import changes nothing: {out}");
    let moved = records(&s).await;
    assert_eq!(moved.resources, snapshot.resources, "the box's resources, ids and all");
    assert_eq!(moved.deployments, snapshot.deployments);

    // A broken snapshot: refused at its line and column, the table as it was.
    let text = snapshot.to_json();
    let phase = format!("\"phase\": \"{}\"", snapshot.deployments[0].phase.as_str());
    let line = text.lines().position(|l| l.contains(&phase)).expect("the phase's line") + 1;
    let broken = s.dir.path().join("broken.json");
    std::fs::write(&broken, text.replacen(&phase, "\"phase\": \"flying\"", 1)).expect("write");
    let shown = broken.display().to_string();
    let err = ottd_fails(&s, &["state", "import", &shown]);
    assert!(err.contains(&format!("{shown}:{line}:")) && err.contains("`flying` is not a phase"), "{err}");
    std::fs::write(&broken, "{\n  \"format\": 1,\n  \"deployments\": [\n").expect("write");
    let err = ottd_fails(&s, &["state", "import", &shown]);
    assert!(err.contains(&format!("{shown}:4:0:")) || err.contains(&format!("{shown}:3:")), "{err}");
    std::fs::write(&broken, "{\"format\": 2}").expect("write");
    let err = ottd_fails(&s, &["state", "import", &shown]);
    assert!(err.contains("snapshot format 2 is not one this ottd reads"), "{err}");
    eprintln!("{err}");
    assert_eq!(records(&s).await, moved, "a refused import writes nothing");

    // The pair sees the event and tears down exactly what the box deployed.
    let status = s.ottd(&["status", "final"]);
    eprintln!("{status}");
    let channel = on_the_box.iter().find(|r| r.key == "channel").and_then(|r| r.aws_id.clone()).expect("channel");
    assert!(status.contains("final") && status.contains(&channel), "{status}");
    s.ottd(&["teardown", "final"]);
    assert_eq!(census(&aws, "final").await, Census::default(), "everything the box created is gone");
    let audit = s.ottd(&["audit", "--all"]);
    assert!(audit.contains("state-import") && audit.contains("teardown"), "{audit}");
    let import_rows = s.state().await.audit(None, None, true, 100).expect("audit");
    let row = import_rows.iter().find(|r| r.operation == "state-import").expect("the import's row");
    assert!(row.actor.starts_with("cli:") && row.result.as_deref() == Some("ok"), "{row:?}");
    eprintln!("took {:?}", started.elapsed());
}
