//! Discord, end to end: `ottd run` with DISCORD_PUBLIC_KEY takes interactions on
//! `POST /discord/interactions`, signed with Ed25519 as Discord signs them; the webhook edits
//! that follow, the gateway (serenity, with DISCORD_TOKEN and `gateway = true`) and the
//! command registration go to a local stand-in of Discord's HTTP API and gateway. AWS is the
//! emulator, as for every daemon test.

mod common;
#[path = "common/discord.rs"]
mod discord;

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ottd::lifecycle::Phase;
use ottd::store::Store;
use serde_json::{json, Value};

use common::{phase, setup, Daemon, Setup};
use discord::{callbacks, edits, gateway_frames, post_signed, public_hex, text_of, DiscordStandIn, Received};

const TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GhXy3k.b0t-t0ken-for-the-stand-in-7f3a9c";
/// The operator role of the test guild (`discord:role:111`).
const OPERATOR: &str = "111";
const EPHEMERAL: u64 = 64;
/// Discord's limit for the initial response.
const ANSWER_LIMIT: Duration = Duration::from_secs(3);

struct Chat {
    s: Setup,
    discord: DiscordStandIn,
    d: Daemon,
    key: SigningKey,
    base: String,
    store: Store,
}

fn start(gateway: bool) -> Chat {
    start_with(gateway, "")
}

/// [`start`] with more `[chat.discord]` keys.
fn start_with(gateway: bool, discord_keys: &str) -> Chat {
    let s = setup(common::ON_DEMAND_FINAL);
    let discord = DiscordStandIn::start();
    let text = format!(
        "\n[chat.discord]\ngateway = {gateway}\n{discord_keys}api_url = \"{}\"\nguild_id = \"{}\"\n[[chat.grant]]\nrole = \"viewer\"\nwho = [\"discord:*\"]\n[[chat.grant]]\nrole = \"operator\"\nwho = [\"discord:role:{OPERATOR}\"]\n",
        discord.api_url(),
        discord::GUILD,
    );
    s.append_config(&text);
    s.ottd(&["bootstrap"]);
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let d =
        Daemon::start_with(&s, "daemon", &[("DISCORD_PUBLIC_KEY", public_hex(&key)), ("DISCORD_TOKEN", TOKEN.into())]);
    let base = d.base_url();
    let store = Store::open(&s.state_path()).expect("state");
    Chat { s, discord, d, key, base, store }
}

impl Chat {
    fn url(&self) -> String {
        format!("{}/discord/interactions", self.base)
    }

    /// POST a signed interaction: the initial response and how long it took.
    fn send(&self, interaction: &Value) -> (Value, Duration) {
        let t = Instant::now();
        let (status, body) = post_signed(&self.url(), &self.key, interaction);
        let took = t.elapsed();
        assert_eq!(status, 200, "{interaction}: {body}\n{}", self.d.log());
        let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        assert!(took < ANSWER_LIMIT, "answered after {took:?}: {v}");
        (v, took)
    }

    /// The edits of the original response of interaction `token`, once one says `want`.
    fn edits_until(&self, token: &str, want: &str, limit: Duration) -> Vec<Value> {
        let items =
            self.discord.log.wait_or(limit, |items| edits(items, token).iter().any(|e| text_of(e).contains(want)));
        match items {
            Ok(items) => edits(&items, token),
            Err(items) => {
                panic!("no edit of {token} saying {want:?}; received:\n{items:#?}\ndaemon log:\n{}", self.d.log())
            }
        }
    }

    /// Neither the bot token nor the key's secret half reaches the log.
    fn assert_no_secrets(&self) {
        let log = self.d.log();
        assert!(!log.contains(TOKEN), "the bot token reached the log:\n{log}");
        assert!(!log.contains(&hex::encode(self.key.to_bytes())), "the signing key reached the log");
        assert!(!log.contains(&public_hex(&self.key)), "DISCORD_PUBLIC_KEY reached the log");
    }
}

#[test]
fn only_signed_interactions_reach_ottd_and_reads_are_answered_at_once() {
    let c = start(false);
    let url = c.url();
    let deploy = discord::command(
        "2000000000000000001",
        "tok-forged",
        "3000000000000000001",
        &[OPERATOR],
        "deploy",
        &[("event", json!("final"))],
    );
    let body = deploy.to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let other = SigningKey::from_bytes(&[8u8; 32]);
    let refused = [
        (
            "another key",
            discord::http_post(
                &url,
                &[("X-Signature-Ed25519", discord::sign(&other, &ts, &body)), ("X-Signature-Timestamp", ts.clone())],
                &body,
            ),
        ),
        (
            "a signature for another timestamp",
            discord::http_post(
                &url,
                &[("X-Signature-Ed25519", discord::sign(&c.key, "1", &body)), ("X-Signature-Timestamp", ts.clone())],
                &body,
            ),
        ),
        (
            "a signature over another body",
            discord::http_post(
                &url,
                &[
                    ("X-Signature-Ed25519", discord::sign(&c.key, &ts, r#"{"type":1}"#)),
                    ("X-Signature-Timestamp", ts.clone()),
                ],
                &body,
            ),
        ),
        (
            "not hex",
            discord::http_post(
                &url,
                &[("X-Signature-Ed25519", "zz".into()), ("X-Signature-Timestamp", ts.clone())],
                &body,
            ),
        ),
        ("no signature", discord::http_post(&url, &[("X-Signature-Timestamp", ts.clone())], &body)),
        ("no headers at all", discord::http_post(&url, &[], &body)),
    ];
    for (what, (status, _)) in &refused {
        assert_eq!(*status, 401, "{what}");
    }
    // Discord's own probe: a PING with a bad signature.
    let ping = json!({"id": "1", "application_id": discord::APPLICATION, "type": 1, "token": "t", "version": 1});
    let (status, _) = discord::http_post(
        &url,
        &[
            ("X-Signature-Ed25519", discord::sign(&other, &ts, &ping.to_string())),
            ("X-Signature-Timestamp", ts.clone()),
        ],
        &ping.to_string(),
    );
    assert_eq!(status, 401, "a badly signed PING");
    assert_eq!(c.store.deployment("final").expect("read").map(|d| d.phase), None, "nothing refused reached the desk");
    let audit = c.s.ottd(&["audit", "--all"]);
    assert!(!audit.contains("discord:"), "nothing refused was audited:\n{audit}");

    // A signed PING is answered PONG.
    let (pong, _) = c.send(&ping);
    assert_eq!(pong, json!({"type": 1}));

    // /ott status: an embed, only for the caller.
    let (status, _) =
        c.send(&discord::command("2000000000000000002", "tok-status", "3000000000000000002", &[], "status", &[]));
    assert_eq!(status["type"], 4, "{status}");
    assert_eq!(status["data"]["flags"], EPHEMERAL, "reads are ephemeral: {status}");
    let embed = &status["data"]["embeds"][0];
    assert!(embed["title"].as_str().is_some_and(|t| !t.is_empty()) && embed["color"].is_number(), "{status}");

    // Autocomplete offers the events.
    let (choices, _) =
        c.send(&discord::autocomplete("2000000000000000003", "tok-auto", "3000000000000000002", "deploy", "fi"));
    assert_eq!(choices, json!({"type": 8, "data": {"choices": [{"name": "final", "value": "final"}]}}));

    // A viewer may not deploy: said politely, to the caller only.
    let (denied, _) = c.send(&discord::command(
        "2000000000000000004",
        "tok-denied",
        "3000000000000000002",
        &[],
        "deploy",
        &[("event", json!("final"))],
    ));
    assert_eq!(denied["type"], 4);
    assert_eq!(denied["data"]["flags"], EPHEMERAL, "{denied}");
    let said = text_of(&denied["data"]);
    assert!(said.contains("this needs the operator role on final; you are viewer here"), "{said}");

    // A button ottd put on a message (`run:help`): a new message, the caller's help.
    let (help, _) = c.send(&discord::click("2000000000000000005", "tok-click", "3000000000000000002", &[], "run:help"));
    assert_eq!(help["type"], 4, "run: buttons answer with a new message: {help}");
    assert_eq!(help["data"]["flags"], EPHEMERAL);
    let said = text_of(&help["data"]);
    assert!(
        said.contains("What you may run here (you are viewer)")
            && said.contains("/ott status")
            && !said.contains("/ott deploy"),
        "{said}"
    );

    // From another server: refused, whatever the grants say.
    let mut elsewhere =
        discord::command("2000000000000000006", "tok-elsewhere", "3000000000000000002", &[], "status", &[]);
    elsewhere["guild_id"] = json!("1299999999999999999");
    let (refused, _) = c.send(&elsewhere);
    assert_eq!(refused["data"]["flags"], EPHEMERAL);
    assert!(text_of(&refused["data"]).contains("only in its own Discord server"), "{refused}");

    // Nothing of the above needed an edit.
    let items = c.discord.log.all();
    assert!(items.iter().all(|r| !matches!(r, Received::Edit { .. })), "{items:#?}");
    let audit = c.s.ottd(&["audit", "final", "--all"]);
    assert!(audit.contains("discord:3000000000000000002") && audit.contains("denied"), "{audit}");
    c.assert_no_secrets();
}

#[test]
fn an_operator_deploys_from_discord_and_the_result_is_edited_in() {
    let c = start(false);
    let op = "3000000000000000009";
    let asked = Instant::now();
    let (first, took) = c.send(&discord::command(
        "2000000000000000010",
        "tok-deploy",
        op,
        &["999", OPERATOR],
        "deploy",
        &[("event", json!("final"))],
    ));
    assert!(took < ANSWER_LIMIT);
    assert_eq!(first["type"], 4, "answered with a message, not deferred: {first}");
    assert!(first["data"].get("flags").is_none(), "a deploy is said in the channel: {first}");
    let said = text_of(&first["data"]);
    assert!(said.contains("`/ott deploy final` by <@3000000000000000009>: under way"), "{said}");

    // The shipped workflow has autoStart: a person's deploy also starts the channel.
    let all = c.edits_until("tok-deploy", "deployed final", Duration::from_secs(120));
    let last = all.last().expect("the result");
    assert!(text_of(last).contains("deployed final"), "the result is the last edit: {all:#?}");
    assert!(all.iter().all(|e| e.get("flags").is_none()), "edits carry no flags: {all:#?}");
    assert!(all.iter().all(|e| e["embeds"].as_array().is_some_and(|a| a.len() == 1)), "{all:#?}");
    assert_eq!(phase(&c.store, "final"), Some(Phase::Running));
    // Edits are paced (at most one a second, the latest message winning): their count is
    // bounded by the time the deploy took.
    let secs = asked.elapsed().as_secs() as usize;
    assert!(all.len() <= secs + 1, "{} edits in {secs}s: {all:#?}", all.len());
    let items = c.discord.log.all();
    let apps: Vec<&str> = items
        .iter()
        .filter_map(|r| match r {
            Received::Edit { app, token, .. } if token == "tok-deploy" => Some(app.as_str()),
            _ => None,
        })
        .collect();
    assert!(apps.iter().all(|a| *a == discord::APPLICATION), "edits go to the interaction's application: {apps:?}");

    // Stop of a running event asks the requester to confirm (buttons); Cancel replaces the
    // question (type 7), and a late Confirm is told it was cancelled.
    let (ask, _) = c.send(&discord::command(
        "2000000000000000011",
        "tok-stop",
        op,
        &[OPERATOR],
        "stop",
        &[("event", json!("final"))],
    ));
    assert_eq!((ask["type"].as_u64(), ask["data"]["flags"].as_u64()), (Some(4), Some(EPHEMERAL)), "{ask}");
    let ids = discord::custom_ids(&ask["data"]);
    let cancel = ids.iter().find(|b| b.starts_with("cancel:")).expect("a cancel button").clone();
    let confirm = ids.iter().find(|b| b.starts_with("confirm:")).expect("a confirm button").clone();
    let (cancelled, _) = c.send(&discord::click("2000000000000000012", "tok-cancel", op, &[OPERATOR], &cancel));
    assert_eq!(cancelled["type"], 7, "the question is replaced: {cancelled}");
    assert!(cancelled["data"].get("flags").is_none(), "{cancelled}");
    assert!(discord::custom_ids(&cancelled["data"]).is_empty(), "no buttons left: {cancelled}");
    assert!(
        text_of(&cancelled["data"]).contains("`/ott stop final` cancelled by <@3000000000000000009>"),
        "{cancelled}"
    );
    let (late, _) = c.send(&discord::click("2000000000000000013", "tok-late", op, &[OPERATOR], &confirm));
    assert_eq!((late["type"].as_u64(), late["data"]["flags"].as_u64()), (Some(4), Some(EPHEMERAL)), "{late}");
    assert!(text_of(&late["data"]).contains("already cancelled"), "{late}");
    assert_eq!(phase(&c.store, "final"), Some(Phase::Running), "nothing stopped");

    // Confirmed on the (ephemeral) question, the stop is said in the channel: a new message
    // (type 4, no ephemeral flag), its result edited in.
    let (ask, _) = c.send(&discord::command(
        "2000000000000000014",
        "tok-stop2",
        op,
        &[OPERATOR],
        "stop",
        &[("event", json!("final"))],
    ));
    let confirm = discord::custom_ids(&ask["data"]).into_iter().find(|b| b.starts_with("confirm:")).expect("confirm");
    let mut click = discord::click("2000000000000000015", "tok-confirm", op, &[OPERATOR], &confirm);
    click["message"]["flags"] = json!(EPHEMERAL);
    let (confirmed, _) = c.send(&click);
    assert_eq!(confirmed["type"], 4, "a new message for the channel: {confirmed}");
    assert!(confirmed["data"].get("flags").is_none(), "{confirmed}");
    c.discord.log.wait("the stop's result edited in", Duration::from_secs(60), |items| {
        discord::edits(items, "tok-confirm").iter().any(|e| text_of(e).contains("final is IDLE"))
    });

    let audit = c.s.ottd(&["audit", "final", "--all"]);
    assert!(audit.contains("discord:3000000000000000009") && audit.contains("deploy"), "{audit}");
    assert!(audit.contains("cancelled"), "{audit}");
    c.assert_no_secrets();
}

#[test]
fn a_break_from_discord_options_reaches_the_schedule_and_a_viewers_slate_is_refused() {
    let c = start(false);
    c.s.ottd(&["deploy", "final"]);
    c.s.ottd(&["start", "final"]);
    let op = "3000000000000000009";
    // The subcommand's options, given in another order than defined, make `break final 90s`.
    let (first, _) = c.send(&discord::command(
        "2000000000000000030",
        "tok-break",
        op,
        &[OPERATOR],
        "break",
        &[("duration", json!("90s")), ("event", json!("final"))],
    ));
    assert!(text_of(&first["data"]).contains("`/ott break final 1m30s`"), "{first}");
    let all = c.edits_until("tok-break", "done:", Duration::from_secs(60));
    let said = text_of(all.last().expect("the result"));
    assert!(said.contains("break on final now for 1m30s: splice insert 1 (8100000 ticks)"), "{said}");

    let (refused, _) = c.send(&discord::command(
        "2000000000000000031",
        "tok-slate",
        "3000000000000000077",
        &["999"],
        "slate",
        &[("event", json!("final")), ("state", json!("on"))],
    ));
    assert_eq!(refused["data"]["flags"].as_u64(), Some(EPHEMERAL), "{refused}");
    assert!(text_of(&refused["data"]).contains("this needs the operator role on final"), "{refused}");
    let listing = c.s.ottd(&["schedule-actions", "final"]);
    assert!(listing.contains("break 1 for 1m30s") && !listing.contains("layer 7"), "{listing}");
}

#[test]
fn the_gateway_client_identifies_registers_ott_and_answers_an_interaction() {
    let c = start(true);
    let log = &c.discord.log;
    let identify = |items: &[Received]| gateway_frames(items, 2).first().cloned();
    let items = log
        .wait_or(Duration::from_secs(30), |items| identify(items).is_some())
        .unwrap_or_else(|items| panic!("no IDENTIFY: {items:#?}\ndaemon log:\n{}", c.d.log()));
    let id = identify(&items).expect("identify");
    assert!(id["d"]["token"].as_str().is_some_and(|t| t.ends_with(TOKEN)), "IDENTIFY carries the bot token");
    assert_eq!(id["d"]["intents"], 0, "no intents: slash commands need none");
    assert!(
        items.iter().any(|r| matches!(r, Received::GatewayUrl { .. })),
        "the gateway URL was asked of the stand-in"
    );

    // READY: /ott is registered in the guild with the bot token.
    let items = log
        .wait_or(Duration::from_secs(20), |items| items.iter().any(|r| matches!(r, Received::Commands { .. })))
        .unwrap_or_else(|items| panic!("no registration: {items:#?}\ndaemon log:\n{}", c.d.log()));
    let (guild, auth, body) = items
        .iter()
        .find_map(|r| match r {
            Received::Commands { guild, auth, body, app } if app == discord::APPLICATION => {
                Some((guild.clone(), auth.clone(), body.clone()))
            }
            _ => None,
        })
        .expect("registration for our application");
    assert_eq!(guild.as_deref(), Some(discord::GUILD));
    assert_eq!(auth, format!("Bot {TOKEN}"));
    assert_eq!(body[0]["name"], "ott");
    assert!(body[0]["options"].as_array().is_some_and(|o| o.iter().any(|s| s["name"] == "restart")), "{body}");

    // Heartbeats are sent and acknowledged.
    log.wait("a heartbeat", Duration::from_secs(10), |items| !gateway_frames(items, 1).is_empty());

    // An interaction over the gateway: answered on the callback URL.
    let t = Instant::now();
    c.discord.dispatch(
        "INTERACTION_CREATE",
        discord::command("2000000000000000020", "tok-gw-status", "3000000000000000002", &[], "status", &[]),
    );
    let items = log
        .wait_or(Duration::from_secs(10), |items| !callbacks(items, "tok-gw-status").is_empty())
        .unwrap_or_else(|items| panic!("no callback: {items:#?}\ndaemon log:\n{}", c.d.log()));
    assert!(t.elapsed() < ANSWER_LIMIT, "answered after {:?}", t.elapsed());
    let cb = callbacks(&items, "tok-gw-status").remove(0);
    assert_eq!(cb["type"], 4, "{cb}");
    assert_eq!(cb["data"]["flags"], EPHEMERAL);
    assert!(items.iter().any(|r| matches!(r, Received::Callback { id, .. } if id == "2000000000000000020")));
    // The same answer as over HTTP.
    let (http, _) =
        c.send(&discord::command("2000000000000000023", "tok-http-status", "3000000000000000002", &[], "status", &[]));
    assert_eq!(cb["data"]["embeds"][0]["title"], http["data"]["embeds"][0]["title"], "{cb}\n{http}");
    assert!(!text_of(&cb["data"]).contains("does not"), "{cb}");

    // Autocomplete over the gateway.
    c.discord.dispatch(
        "INTERACTION_CREATE",
        discord::autocomplete("2000000000000000021", "tok-gw-auto", "3000000000000000002", "start", "f"),
    );
    let items = log.wait("the autocomplete callback", Duration::from_secs(10), |items| {
        !callbacks(items, "tok-gw-auto").is_empty()
    });
    assert_eq!(
        callbacks(&items, "tok-gw-auto")[0],
        json!({"type": 8, "data": {"choices": [{"name": "final", "value": "final"}]}})
    );

    // An operator's deploy over the gateway: the answer, then edits with the result.
    c.discord.dispatch(
        "INTERACTION_CREATE",
        discord::command(
            "2000000000000000022",
            "tok-gw-deploy",
            "3000000000000000009",
            &[OPERATOR],
            "deploy",
            &[("event", json!("final"))],
        ),
    );
    let all = c.edits_until("tok-gw-deploy", "deployed final", Duration::from_secs(120));
    let items = log.all();
    let first = callbacks(&items, "tok-gw-deploy");
    assert!(text_of(&first[0]["data"]).contains("under way"), "{first:#?}");
    assert!(text_of(all.last().expect("result")).contains("deployed final"));
    c.assert_no_secrets();
}

/// serenity 0.12.5 could leave a shard dead after a failed resume (serenity PR #3369): the
/// stand-in closes the connection (resumable), then refuses the RESUME (op 9, not
/// resumable). The client must identify again, by itself or rebuilt by ottd's supervisor,
/// and answer interactions as before.
#[test]
fn the_gateway_client_comes_back_after_a_failed_resume() {
    let c = start(true);
    let log = &c.discord.log;
    let identifies = |items: &[Received]| gateway_frames(items, 2).len();
    log.wait("the first IDENTIFY and registration", Duration::from_secs(30), |items| {
        identifies(items) == 1 && items.iter().any(|r| matches!(r, Received::Commands { .. }))
    });
    c.discord.dispatch(
        "INTERACTION_CREATE",
        discord::command("2000000000000000030", "tok-before", "3000000000000000002", &[], "status", &[]),
    );
    log.wait("the answer before the drop", Duration::from_secs(10), |items| !callbacks(items, "tok-before").is_empty());

    let dropped = Instant::now();
    c.discord.close_connection(4000);
    let items = log
        .wait_or(Duration::from_secs(120), |items| identifies(items) >= 2 && c.discord.connections() >= 2)
        .unwrap_or_else(|items| panic!("the client did not come back: {items:#?}\ndaemon log:\n{}", c.d.log()));
    let resumed = gateway_frames(&items, 6);
    eprintln!(
        "back after {:?}: {} connections, {} RESUME, rebuilt by ottd: {}",
        dropped.elapsed(),
        c.discord.connections(),
        resumed.len(),
        c.d.log().contains("rebuilding the client")
    );
    answered_after(&c, "tok-after");
    c.assert_no_secrets();
}

/// After a reconnect: READY of the new session, then an interaction is answered as before.
fn answered_after(c: &Chat, token: &str) {
    let log = &c.discord.log;
    let readies = |items: &[Received]| items.iter().filter(|r| matches!(r, Received::Ready { .. })).count();
    let before = readies(&log.all());
    log.wait_or(Duration::from_secs(30), |items| readies(items) >= before.max(2))
        .unwrap_or_else(|items| panic!("no new session: {items:#?}\ndaemon log:\n{}", c.d.log()));
    c.discord.dispatch(
        "INTERACTION_CREATE",
        discord::command("2000000000000000199", token, "3000000000000000002", &[], "status", &[]),
    );
    log.wait_or(Duration::from_secs(10), |items| !callbacks(items, token).is_empty())
        .unwrap_or_else(|items| panic!("no answer after the reconnect: {items:#?}\ndaemon log:\n{}", c.d.log()));
}

/// The case serenity 0.12.5 does not recover from by itself: the link dies and the resume's
/// connection hangs (accepted, never answered), so the shard runner waits forever with a stale
/// "connected" record. ottd's supervisor notices the frozen record and rebuilds the client.
/// The supervisor's limits are shortened (the stand-in heartbeats every second, so the record
/// of a live shard changes every second).
#[test]
fn a_gateway_client_stuck_in_a_resume_is_rebuilt() {
    let c = start_with(true, "shard_down = \"5s\"\nshard_silent = \"8s\"\n");
    let log = &c.discord.log;
    log.wait("the first session", Duration::from_secs(30), |items| {
        items.iter().any(|r| matches!(r, Received::Ready { .. })) && !gateway_frames(items, 1).is_empty()
    });
    c.discord.black_hole(1);
    c.discord.drop_connection();
    let t = Instant::now();
    log.wait("the resume's connection, left silent", Duration::from_secs(30), |items| {
        items.iter().any(|r| matches!(r, Received::BlackHoled))
    });
    let rebuilt = |items: &[Received]| items.iter().filter(|r| matches!(r, Received::GatewayUrl { .. })).count() >= 2;
    log.wait_or(Duration::from_secs(60), rebuilt)
        .unwrap_or_else(|items| panic!("not rebuilt: {items:#?}\ndaemon log:\n{}", c.d.log()));
    eprintln!("rebuilt after {:?}", t.elapsed());
    assert!(c.d.log().contains("rebuilding the gateway client"), "{}", c.d.log());
    answered_after(&c, "tok-rebuilt");
    c.assert_no_secrets();
}

#[test]
fn a_replayed_stale_or_future_interaction_is_refused() {
    let c = start(false);
    let url = c.url();
    let signed_at = |v: &Value, ts: i64| {
        let (body, ts) = (v.to_string(), ts.to_string());
        discord::http_post(
            &url,
            &[("X-Signature-Ed25519", discord::sign(&c.key, &ts, &body)), ("X-Signature-Timestamp", ts)],
            &body,
        )
    };
    let now = chrono::Utc::now().timestamp();
    let status = discord::command("2000000000000000050", "tok-replayed", "3000000000000000002", &[], "status", &[]);
    assert_eq!(signed_at(&status, now).0, 200);
    let (again, body) = signed_at(&status, now);
    assert_ne!(again, 200, "a replayed interaction is refused: {body}");
    let old = discord::command("2000000000000000051", "tok-old", "3000000000000000002", &[], "status", &[]);
    assert_eq!(signed_at(&old, now - 360).0, 401, "six minutes old");
    let ahead = discord::command("2000000000000000052", "tok-ahead", "3000000000000000002", &[], "status", &[]);
    assert_eq!(signed_at(&ahead, now + 360).0, 401, "six minutes ahead");
    let rows = c.store.audit(None, None, true, 100).expect("audit");
    assert_eq!(rows.iter().filter(|r| r.operation == "status").count(), 1, "one status reached ottd: {rows:#?}");
}

#[test]
fn an_interaction_from_a_dm_or_another_guild_is_refused_and_audited() {
    let c = start(false);
    let mut elsewhere = discord::command(
        "2000000000000000060",
        "tok-other-guild",
        "3000000000000000002",
        &[OPERATOR],
        "hold",
        &[("event", json!("final"))],
    );
    elsewhere["guild_id"] = json!("1299999999999999999");
    let (refused, _) = c.send(&elsewhere);
    assert!(text_of(&refused["data"]).contains("only in its own Discord server"), "{refused}");
    let mut dm = discord::command("2000000000000000061", "tok-dm", "3000000000000000003", &[], "status", &[]);
    let obj = dm.as_object_mut().expect("object");
    let member = obj.remove("member").expect("member");
    obj.remove("guild_id");
    obj.insert("user".into(), member["user"].clone());
    let (refused, _) = c.send(&dm);
    assert!(text_of(&refused["data"]).contains("only in its own Discord server"), "{refused}");
    assert_eq!(c.store.override_of("final").expect("read"), None);
    let rows = c.store.audit(None, None, true, 100).expect("audit");
    let denied: Vec<_> = rows.iter().filter(|r| r.decision == "denied").collect();
    assert!(
        denied
            .iter()
            .any(|r| r.actor == "discord:3000000000000000002" && r.args.to_string().contains("1299999999999999999")),
        "{rows:#?}"
    );
    assert!(denied.iter().any(|r| r.actor == "discord:3000000000000000003"), "{rows:#?}");
}

#[test]
fn past_max_in_flight_discord_is_answered_busy_rather_than_queued() {
    let c = start_with(false, "max_in_flight = 1\n");
    let op = "3000000000000000009";
    let deploy = discord::command(
        "2000000000000000070",
        "tok-busy-deploy",
        op,
        &[OPERATOR],
        "deploy",
        &[("event", json!("final"))],
    );
    let (first, _) = c.send(&deploy);
    assert!(text_of(&first["data"]).contains("under way"), "{first}");
    // The deploy holds the one slot until its result is edited in.
    let status = |n: u64| {
        discord::command(
            &format!("20000000000000001{n:02}"),
            &format!("tok-busy-{n}"),
            "3000000000000000002",
            &[],
            "status",
            &[],
        )
    };
    let (busy, _) = c.send(&status(0));
    assert!(text_of(&busy["data"]).contains("busy"), "{busy}");
    c.edits_until("tok-busy-deploy", "deployed final", Duration::from_secs(120));
    let mut n = 0;
    common::wait_for("a free slot once the deploy is done", &c.d, Duration::from_secs(10), || {
        n += 1;
        !text_of(&c.send(&status(n)).0["data"]).contains("busy")
    });
}
