//! The ceiling of the ChatOps benchmark (issue 14, `scripts/bench-chat.sh`): an axum router
//! whose `POST /slack/commands` reads the body and answers a constant ephemeral reply
//! without looking at it (no signature check, no parsing), on tokio's multi-thread runtime with its default
//! worker threads. What ottd's own endpoint is compared with on the same machine.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use axum::Router;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "POST /slack/commands answering a constant reply")]
struct Args {
    /// Where to listen (loopback; port 0 picks a free one, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

const REPLY: &str = r#"{"response_type":"ephemeral","text":"ok"}"#;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let app = Router::new()
        .route("/slack/commands", post(|_body: Bytes| async { ([(CONTENT_TYPE, "application/json")], REPLY) }));
    let listener = tokio::net::TcpListener::bind(args.listen).await.unwrap_or_else(|e| {
        eprintln!("bare-axum: cannot listen on {}: {e}", args.listen);
        std::process::exit(2)
    });
    let addr = listener.local_addr().expect("a bound address");
    println!("BARE_AXUM_READY http://{addr}/slack/commands");
    axum::serve(listener, app).await.expect("serve");
}
