//! The queue broker and its workers through the library's scenarios: each promised outcome
//! (a worker killed mid-message, a poison message, a flash sale into a bounded queue, a broker
//! restart with and without fsync) under seeds 1 to 3, and the located errors of the queue
//! and worker settings.

use crate::util;

use faultline_chaos::report::queue::QueueReport;
use faultline_chaos::report::{Report, Verdict};
use faultline_sim::scenario::parse_str;
use util::{go, library};

fn queue(report: &Report) -> &QueueReport {
    report.queue.as_ref().expect("a broker ran: the report has a queue section")
}

fn accounting(report: &Report) -> (Verdict, String) {
    let check = report.checks.iter().find(|c| c.name == "queue accounting").expect("the queue is judged");
    (check.verdict, check.detail.clone())
}

/// Every accepted message is processed, dead-lettered or still queued.
fn all_accounted(q: &QueueReport) -> bool {
    q.processed + q.dead_lettered + q.queued_at_end >= q.accepted_synced
}

#[test]
fn a_killed_worker_loses_nothing_and_duplicates_are_counted_then_absorbed() {
    for seed in 1..=3 {
        let plain = go(&library("queue-worker-crash.toml", &[]), seed).report;
        let idem = go(&library("queue-worker-crash-idempotent.toml", &[]), seed).report;
        let (p, i) = (queue(&plain), queue(&idem));
        assert!(p.accepted > 1_800, "seed {seed}: {} accepted", p.accepted);
        assert_eq!((p.lost_unsynced, p.accepted_synced), (0, p.accepted), "seed {seed}: fsync always loses nothing");
        assert!(all_accounted(p), "seed {seed}: {p:?}");
        assert!(p.queued_at_end < 20, "seed {seed}: the backlog of the outage drained ({} left)", p.queued_at_end);
        assert!(p.redeliveries >= 3, "seed {seed}: the killed worker's messages came back ({})", p.redeliveries);
        assert!(p.duplicates >= 1, "seed {seed}: leases that ran out made duplicate effects");
        assert_eq!(p.absorbed, 0, "seed {seed}: nothing absorbs them without idempotency keys");
        assert!(p.depth_peak > 100, "seed {seed}: the queue grew while the worker was down ({})", p.depth_peak);
        assert_eq!(accounting(&plain).0, Verdict::Pass, "seed {seed}: {}", accounting(&plain).1);
        // The same run with idempotency keys: the same deliveries, no duplicate effect.
        assert_eq!(i.duplicates, 0, "seed {seed}: idempotency keys leave no duplicate effect");
        assert_eq!(i.absorbed, p.duplicates, "seed {seed}: each duplicate is absorbed instead");
        assert_eq!(i.processed, p.processed, "seed {seed}");
        assert_eq!(accounting(&idem).0, Verdict::Pass, "seed {seed}");
        assert!(plain.passed() && idem.passed(), "seed {seed}");
    }
}

#[test]
fn a_poison_message_is_dead_lettered_after_its_receives_and_the_rest_flow() {
    for seed in 1..=3 {
        let report = go(&library("queue-poison.toml", &[]), seed).report;
        let q = queue(&report);
        // About one message in 20 is keyed k7.
        assert!(q.dead_lettered * 30 > q.accepted && q.dead_lettered * 12 < q.accepted, "seed {seed}: {q:?}");
        // Each dead letter failed exactly max_receives = 4 times; messages still retrying may
        // have failed fewer.
        assert!(q.failed >= 4 * q.dead_lettered && q.failed <= 4 * q.dead_lettered + 12, "seed {seed}: {q:?}");
        // A message processed whose acknowledgement is on its way at the end counts twice.
        let sum = q.processed + q.dead_lettered + q.queued_at_end;
        assert!(sum >= q.accepted && sum <= q.accepted + 4, "seed {seed}: the rest processed: {q:?}");
        assert!(q.queued_at_end < 10, "seed {seed}: nothing stuck behind the poison ({})", q.queued_at_end);
        assert_eq!(accounting(&report).0, Verdict::Pass, "seed {seed}: a dead letter is accounted for");
    }
}

#[test]
fn a_flash_sale_fills_the_bounded_queue_then_drains() {
    for seed in 1..=3 {
        let report = go(&library("queue-flash-sale.toml", &[]), seed).report;
        let q = queue(&report);
        assert!(q.refused_full > 500, "seed {seed}: producers saw Full ({})", q.refused_full);
        assert!(q.depth_peak >= 1_900 && q.depth_peak <= 2_000, "seed {seed}: the bound holds ({})", q.depth_peak);
        assert!(q.oldest_age_ms_peak > 5_000, "seed {seed}: the oldest order waited ({} ms)", q.oldest_age_ms_peak);
        let before = q.windows.iter().find(|w| w.start_s == 2.0).expect("a window at 2 s");
        let last = q.windows.last().expect("windows");
        assert!(before.depth_peak < 50, "seed {seed}: no backlog before the burst");
        assert!(last.depth_peak < 50, "seed {seed}: drained by the end ({})", last.depth_peak);
        assert!(report.end_to_end.errors >= q.refused_full, "seed {seed}: a Full answer fails the send");
        assert_eq!(accounting(&report).0, Verdict::Pass, "seed {seed}");
    }
}

#[test]
fn a_broker_restart_loses_nothing_with_fsync_always_and_the_unsynced_tail_without() {
    for seed in 1..=3 {
        let synced = go(&library("queue-broker-restart.toml", &[]), seed).report;
        let q = queue(&synced);
        assert_eq!(q.lost_unsynced, 0, "seed {seed}");
        assert!(all_accounted(q), "seed {seed}: {q:?}");
        assert_eq!(accounting(&synced).0, Verdict::Pass, "seed {seed}");
        let unsynced = go(&library("queue-broker-restart-unsynced.toml", &[]), seed).report;
        let u = queue(&unsynced);
        // Up to a second of messages (about 100) since the last sync.
        assert!(u.lost_unsynced > 0 && u.lost_unsynced <= 150, "seed {seed}: {} lost", u.lost_unsynced);
        assert_eq!(u.accepted, q.accepted, "seed {seed}: the producers saw the same run");
        let (verdict, detail) = accounting(&unsynced);
        assert_eq!(verdict, Verdict::Fail, "seed {seed}");
        assert!(detail.contains(&format!("{} of {} messages acknowledged", u.lost_unsynced, u.accepted)), "{detail}");
        assert!(!unsynced.passed(), "seed {seed}: the run fails, not silently");
    }
}

#[test]
fn an_apps_writes_drive_the_queue() {
    let text = r#"
name = "app-enqueue"
duration = "5s"
[[hosts]]
name = "db"
service = { kv = { role = "primary" } }
[[hosts]]
name = "mq"
service = { queue = { queues = [{ name = "jobs", visibility = "2s" }] } }
[[hosts]]
name = "app"
service = { app = { db = "db", enqueue = { broker = "mq", queue = "jobs", on = "write" } } }
[[hosts]]
name = "worker"
service = { worker = { broker = "mq", queue = "jobs" } }
workers = 4
service_time = { exponential = "10ms" }
[workload]
targets = ["app"]
users = 20
arrival = { poisson = { rate = 100 } }
read_ratio = 0.0
keys = 100
"#;
    let report = go(&util::scenario(text), 1).report;
    let q = queue(&report);
    assert!(report.end_to_end.ok > 400, "{:?}", report.end_to_end);
    // Each write the client saw succeed sent its message first.
    assert_eq!(q.accepted, report.end_to_end.ok, "one message per successful write");
    assert!(q.processed + q.queued_at_end >= q.accepted, "{q:?}");
    assert_eq!(accounting(&report).0, Verdict::Pass);
}

#[test]
fn bad_queue_and_worker_settings_are_located_errors() {
    let text = r#"
name = "bad"
duration = "1s"
[[hosts]]
name = "mq"
service = { queue = { queues = [{ name = "a", partitions = 0 }, { name = "a" }] } }
[[hosts]]
name = "w"
service = { worker = { broker = "nope" } }
[workload]
targets = ["mq"]
users = 1
arrival = { poisson = { rate = 1 } }
"#;
    let err = parse_str("bad.toml", text).expect_err("invalid");
    let lines = err.report_lines().join("\n");
    assert!(lines.contains("expected 1 to 1024"), "{lines}");
    assert!(lines.contains("used twice"), "{lines}");
    assert!(lines.contains("unknown host \"nope\""), "{lines}");
    let worker_of_a_worker = text.replace(r#"broker = "nope""#, r#"broker = "w""#);
    let lines = parse_str("bad.toml", &worker_of_a_worker).expect_err("invalid").report_lines().join("\n");
    assert!(lines.contains("must be a queue broker"), "{lines}");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        a_killed_worker_loses_nothing_and_duplicates_are_counted_then_absorbed,
        a_poison_message_is_dead_lettered_after_its_receives_and_the_rest_flow,
        a_flash_sale_fills_the_bounded_queue_then_drains,
        a_broker_restart_loses_nothing_with_fsync_always_and_the_unsynced_tail_without,
        an_apps_writes_drive_the_queue,
    }
}
