//! SIGTERM stops the service gracefully. In its own test binary: the signal goes to the whole
//! test process, whose default SIGTERM action is replaced once `shutdown_signal` is installed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::BagOfWords;
use dualenc_server::{serve_on, shutdown_signal, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let signal = shutdown_signal().expect("install handlers");
    let server = tokio::spawn(serve_on(
        listener,
        Arc::new(BagOfWords::new()),
        ServerConfig::default(),
        signal,
    ));

    let health = reqwest::get(format!("http://{addr}/health"))
        .await
        .expect("up");
    assert_eq!(health.status(), reqwest::StatusCode::OK);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let stopped = tokio::time::timeout(Duration::from_secs(10), server).await;
    stopped
        .expect("stops within 10 s of SIGTERM")
        .expect("no panic")
        .expect("clean stop");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
