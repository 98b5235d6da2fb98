//! The batch job: the long transactions a fault asks for (`Fault::LongTransactions`), run from
//! the first load generator, as a reporting job or a migration runs beside the web traffic.
//!
//! Each transaction opens its own connection to the target, sends one `Hold` query that keeps
//! its worker (and, through a pool, its server connection) for the transaction's length, and
//! closes. They are not workload requests: they stay out of the end-to-end history and show in
//! the servers' own metrics, and in what they do to everyone else's requests.

use crate::services::addr;
use crate::world::SimEnv;
use faultline_models::client::call_once;
use faultline_models::kv::api::Msg;
use std::time::Duration;

/// How long a transaction may take beyond its hold before the job gives up on it.
const GRACE: Duration = Duration::from_secs(10);

/// Runs every burst the nemesis queues, for as long as the host runs.
pub(crate) async fn run_batch_job(env: SimEnv) {
    loop {
        let next = env.shared().bursts.borrow_mut().pop_front();
        let Some(burst) = next else {
            env.shared().burst_ready.notified().await;
            continue;
        };
        let ms = u32::try_from(burst.hold_ns / 1_000_000).unwrap_or(u32::MAX);
        let target = addr(&burst.target);
        for _ in 0..burst.count {
            let (env2, target) = (env.clone(), target.clone());
            let limit = Duration::from_millis(u64::from(ms)) + GRACE;
            faultline_models::seam::Env::spawn(&env, async move {
                // The outcome is the servers' to record: the job only holds the connection.
                let _ = call_once(&env2, &target, Msg::Hold { ms }, limit).await;
            });
        }
    }
}
