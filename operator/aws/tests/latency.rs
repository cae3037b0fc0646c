//! How long one reconcile pass takes against moto, printed rather than asserted (a
//! timed assertion would fail on a busy machine, not on slow code). moto answers each
//! call in a few milliseconds on loopback, so the figures show the number of round
//! trips a pass costs more than what AWS would take.
//!
//! Run: `cargo nextest run -p metricsapp-aws --test latency --run-ignored only
//! --no-capture` with `MOTO_ENDPOINT` set (as `./scripts/test` does).

mod common;

use std::time::{Duration, Instant};

use common::{client, on_demand, owner, unique};
use metricsapp_aws::table::{TableRecord, reconcile};

const TABLES: usize = 20;
const NO_OP_PASSES: usize = 10;

#[tokio::test]
#[ignore = "a measurement, not a test: run with --run-ignored only --no-capture"]
async fn reconcile_latency_against_moto() {
    let Some(client) = client("MOTO_ENDPOINT", "reconcile_latency_against_moto").await else {
        return;
    };
    let mut create = Vec::new();
    let mut first_check = Vec::new();
    let mut no_op = Vec::new();
    for _ in 0..TABLES {
        let desired = on_demand(&unique("latency"));
        let owner = owner();

        let started = Instant::now();
        let report = reconcile(&client, &desired, &owner, false, &TableRecord::default())
            .await
            .unwrap();
        create.push(started.elapsed());
        assert!(!report.changes.is_empty());

        let started = Instant::now();
        reconcile(&client, &desired, &owner, false, &TableRecord::default())
            .await
            .unwrap();
        first_check.push(started.elapsed());

        for _ in 0..NO_OP_PASSES {
            let started = Instant::now();
            let report = reconcile(&client, &desired, &owner, false, &TableRecord::default())
                .await
                .unwrap();
            no_op.push(started.elapsed());
            assert!(report.settled && report.changes.is_empty());
        }
    }
    println!(
        "reconcile latency against moto at {}",
        std::env::var("MOTO_ENDPOINT").unwrap()
    );
    summary("create pass (DescribeTable, CreateTable)", create);
    summary("first pass after create (4 reads)", first_check);
    summary("no-op pass (4 reads, no write)", no_op);
}

fn summary(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{what}: n={} min={:.1?} median={:.1?} p95={:.1?} max={:.1?} mean={:.1?}",
        samples.len(),
        samples[0],
        at(0.5),
        at(0.95),
        samples[samples.len() - 1],
        mean
    );
}
