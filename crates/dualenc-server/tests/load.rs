//! A bounded load test on loopback: 2,000 requests, 32 at a time, zero errors allowed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use dualenc_server::SearchResponse;
use tokio::sync::Semaphore;

/// Total requests sent.
const REQUESTS: usize = 2000;
/// Requests in flight at once.
const CONCURRENCY: usize = 32;

/// Queries and the video each must rank first.
const QUERIES: &[(&str, &str)] = &[
    ("a+dog+runs+on+the+beach", "video0"),
    ("girl+dancing", "video1"),
    ("cooks+pasta", "video2"),
    ("red+car+at+night", "video3"),
    ("a+cat+sleeps", "video4"),
    ("band+plays+music", "video5"),
    ("children+swim", "video6"),
    ("robot+opens+a+door", "video7"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_requests_32_at_a_time_without_error() {
    let server = TestServer::toy().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("semaphore open");
        let (query, expected) = QUERIES[i % QUERIES.len()];
        let url = server.url(&format!("/api/search?q={query}&k=5"));
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let response = client.get(url).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            let answer: SearchResponse = response.json().await.map_err(|e| e.to_string())?;
            match answer.results.first() {
                Some(top) if top.id == expected => Ok(()),
                other => Err(format!("{query}: top {other:?}, expected {expected}")),
            }
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(error) = task.await.expect("task") {
            errors.push(error);
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{REQUESTS} requests, {CONCURRENCY} concurrent: {:.2} s, {:.0} requests/s",
        elapsed.as_secs_f64(),
        REQUESTS as f64 / elapsed.as_secs_f64()
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    server.stop().await.expect("clean stop");
}
