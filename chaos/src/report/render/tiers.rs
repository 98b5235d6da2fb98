//! The report's sections for the parts a run may have or not: the cache tier, circuit
//! breakers, user sessions, tenants, the users' regions, an autoscaled pool and an active-active store, each shown only when the report has
//! it, in the layout of
//! [`super`] (aligned tables, a unit on every figure).
//!
//! Owns: those sections' layout. Must not: compute anything the JSON report lacks.

use super::{Table, ms, pct, section};
use crate::report::{CacheFigures, CacheWindow, Report};

/// DNS failovers, when a DNS server reported: health changes, then each answer change and how
/// its users followed.
pub(super) fn dns(report: &Report, out: &mut String) {
    let Some(dns) = &report.dns else {
        return;
    };
    section(out, "DNS failover (endpoints found down or back; answers changed, and the users on the old endpoint)");
    for h in &dns.health {
        let verdict = if h.healthy { "healthy" } else { "unhealthy" };
        out.push_str(&format!(
            "  {:>10.3} s  {} {verdict}
",
            h.t_s, h.endpoint
        ));
    }
    let secs = |s: Option<f64>| s.map_or_else(|| "-".to_string(), |s| format!("{s:.1}"));
    let mut table = Table::new(&[
        "at s",
        "<name",
        "<from -> to",
        "users on old",
        "moved",
        "p50 s",
        "p90 s",
        "p99 s",
        "max s",
        "still on old",
    ]);
    for c in &dns.changes {
        table.row(vec![
            format!("{:.3}", c.t_s),
            c.name.clone(),
            format!("{} -> {}", c.from, c.to),
            c.users_on_old.to_string(),
            c.moved.to_string(),
            secs(c.moved_p50_s),
            secs(c.moved_p90_s),
            secs(c.moved_p99_s),
            secs(c.moved_max_s),
            c.still_on_old.to_string(),
        ]);
    }
    if !dns.changes.is_empty() {
        table.render(out);
    }
    if dns.omitted > 0 {
        out.push_str(&format!(
            "  ({} more answer changes not listed)
",
            dns.omitted
        ));
    }
}

/// End to end by the users' region, when the header places load generators in regions.
pub(super) fn regions(report: &Report, out: &mut String) {
    if report.regions.is_empty() {
        return;
    }
    section(out, "End to end by users' region (the users of each region's load generators)");
    let mut table = Table::new(&["<region", "<users on", "requests", "available", "p50 ms", "p99 ms", "max ms"]);
    for r in &report.regions {
        let l = &r.latency;
        table.row(vec![
            r.name.clone(),
            r.loadgens.join(","),
            r.requests.to_string(),
            pct(r.availability),
            ms(l.p50_ms, l),
            ms(l.p99_ms, l),
            ms(l.max_ms, l),
        ]);
    }
    table.render(out);
}

pub(super) fn sessions(report: &Report, out: &mut String) {
    let Some(sessions) = &report.sessions else {
        return;
    };
    section(out, "Sessions (users log in; a 401 to a request carrying a session is a lost session)");
    let mut table = Table::new(&["created", "lost", "requests answered 401"]);
    table.row(vec![
        sessions.created.to_string(),
        sessions.lost.to_string(),
        report.end_to_end.unauthorized.to_string(),
    ]);
    table.render(out);
}

/// Each tenant's requests, when the workload has tenants.
pub(super) fn tenants(report: &Report, out: &mut String) {
    if report.tenants.is_empty() {
        return;
    }
    section(out, "Tenants (requests on each tenant's keys; worst: its window with the lowest availability)");
    let mut table = Table::new(&["<tenant", "requests", "available", "p50 ms", "p99 ms", "worst window", "worst at s"]);
    for t in &report.tenants {
        let l = &t.latency;
        let worst = t.worst_window.as_ref();
        table.row(vec![
            t.name.clone(),
            t.requests.to_string(),
            pct(t.availability),
            ms(l.p50_ms, l),
            ms(l.p99_ms, l),
            pct(worst.map(|w| w.availability)),
            worst.map_or_else(|| "-".to_string(), |w| format!("{:.0}", w.start_s)),
        ]);
    }
    table.render(out);
}

/// The message queues, when a broker published its gauges.
pub(super) fn queue(report: &Report, out: &mut String) {
    let Some(q) = &report.queue else {
        return;
    };
    section(out, "Queues (producers' accepted sends; brokers' logs and levels; workers' processed-ids stores)");
    let mut table = Table::new(&[
        "accepted",
        "synced",
        "lost unsynced",
        "processed",
        "duplicates",
        "absorbed",
        "dead-lettered",
        "queued at end",
    ]);
    table.row(
        [
            q.accepted,
            q.accepted_synced,
            q.lost_unsynced,
            q.processed,
            q.duplicates,
            q.absorbed,
            q.dead_lettered,
            q.queued_at_end,
        ]
        .map(|n| n.to_string())
        .to_vec(),
    );
    table.render(out);
    let mut table =
        Table::new(&["redeliveries", "failed attempts", "refused full", "depth peak", "oldest age peak ms"]);
    table.row(
        [q.redeliveries, q.failed, q.refused_full, q.depth_peak, q.oldest_age_ms_peak].map(|n| n.to_string()).to_vec(),
    );
    table.render(out);
    let mut table = Table::new(&["window s", "depth peak", "oldest age peak ms"]);
    for w in &q.windows {
        table.row(vec![format!("{:.1}", w.start_s), w.depth_peak.to_string(), w.oldest_age_ms_peak.to_string()]);
    }
    table.render(out);
}

/// The cache window that starts at `start_s` (both series use the same starts).
pub(super) fn cache_window(windows: &[CacheWindow], start_s: f64) -> Option<&CacheWindow> {
    let i = windows.partition_point(|c| c.start_s < start_s);
    windows.get(i).filter(|c| c.start_s == start_s)
}

pub(super) fn breakers(report: &Report, out: &mut String) {
    if report.breakers.is_empty() {
        return;
    }
    section(out, "Circuit breakers (from their state changes)");
    let mut table = Table::new(&["<host", "<breaker", "opened", "first open s", "open s", "half-open s", "<at end"]);
    for b in &report.breakers {
        table.row(vec![
            b.host.clone(),
            b.breaker.clone(),
            b.opened.to_string(),
            b.first_open_s.map_or_else(|| "-".to_string(), |t| format!("{t:.3}")),
            format!("{:.3}", b.open_s),
            format!("{:.3}", b.half_open_s),
            b.state_at_end.name().to_string(),
        ]);
    }
    table.render(out);
}

pub(super) fn cache(report: &Report, out: &mut String) {
    let Some(cache) = &report.cache else {
        return;
    };
    section(out, "Cache tier (from the apps' and the cache nodes' gauges)");
    if cache.apps.is_empty() {
        out.push_str("  no app host published cache tier gauges\n");
    } else {
        let rows: Vec<(&str, &CacheFigures)> = cache
            .apps
            .iter()
            .map(|a| (a.name.as_str(), &a.figures))
            .chain(std::iter::once(("total", &cache.total)))
            .collect();
        cache_reads(&rows, out);
        out.push('\n');
        cache_loads(&rows, out);
        out.push_str(&format!(
            "  peak loads of one key at once: {} on one host; at most {} across hosts (the sum of the hosts' peaks)\n",
            cache.total.key_loads_peak, cache.key_loads_peak_sum
        ));
    }
    if let Some(peak) = cache.db_key_reads_peak {
        out.push_str(&format!("  peak reads of one key at once at the database: {peak} (on one node)\n"));
    }
    if cache.nodes.is_empty() {
        return;
    }
    out.push('\n');
    let mut table =
        Table::new(&["<L2 node", "hits", "misses", "evicted", "expired", "peak entries", "peak used_memory bytes"]);
    for n in &cache.nodes {
        table.row(vec![
            n.name.clone(),
            n.hits.to_string(),
            n.misses.to_string(),
            n.evicted.to_string(),
            n.expired.to_string(),
            n.entries_peak.to_string(),
            n.used_memory_peak.to_string(),
        ]);
    }
    table.render(out);
}

fn cache_reads(rows: &[(&str, &CacheFigures)], out: &mut String) {
    let mut table =
        Table::new(&["<app", "reads", "L1 hits", "L2 hits", "loaded", "L1 hit %", "L2 hit %", "overall hit %"]);
    for (name, f) in rows {
        table.row(vec![
            name.to_string(),
            f.reads.to_string(),
            f.l1_hits.to_string(),
            f.l2_hits.to_string(),
            f.loaded.to_string(),
            pct(f.l1_hit_rate),
            pct(f.l2_hit_rate),
            pct(f.hit_rate),
        ]);
    }
    table.render(out);
}

fn cache_loads(rows: &[(&str, &CacheFigures)], out: &mut String) {
    let mut table =
        Table::new(&["<app", "db loads", "db loads/s", "key loads peak", "lock waits", "early refreshes", "L2 errors"]);
    for (name, f) in rows {
        table.row(vec![
            name.to_string(),
            f.db_loads.to_string(),
            format!("{:.2}", f.db_loads_per_s),
            f.key_loads_peak.to_string(),
            f.lock_waits.to_string(),
            f.early_refreshes.to_string(),
            f.l2_errors.to_string(),
        ]);
    }
    table.render(out);
}

pub(super) fn autoscale(report: &Report, out: &mut String) {
    let Some(pool) = &report.autoscale else {
        return;
    };
    let unit = if pool.metric == "cpu" { "%" } else { "" };
    section(out, "Autoscaling (instances ready or starting, from the autoscaler's states)");
    let mut table = Table::new(&[
        "<metric",
        "target",
        "mean",
        "min",
        "max",
        "at end",
        "scale-ups",
        "scale-downs",
        "flaps",
        "flap window s",
    ]);
    table.row(vec![
        pool.metric.clone(),
        format!("{}{unit}", pool.target),
        pool.mean_metric.map_or_else(|| "-".to_string(), |m| format!("{m:.1}{unit}")),
        pool.instances_min.to_string(),
        pool.instances_max.to_string(),
        pool.instances_at_end.to_string(),
        pool.scale_ups.to_string(),
        pool.scale_downs.to_string(),
        pool.flaps.to_string(),
        format!("{:.0}", pool.flap_window_s),
    ]);
    table.render(out);
    match &pool.absorb {
        Some(absorb) => {
            let took = absorb.absorbed_s.map_or_else(
                || "not absorbed by the end of the run".to_string(),
                |t| format!("absorbed at {t:.3} s ({} after the step, {})", fmt_s(t - absorb.step_s), absorb.by),
            );
            out.push_str(&format!("  load step at {:.3} s: {took}\n", absorb.step_s));
        }
        None => out.push_str("  no load step (no window's offered rate rose 20% over the one before)\n"),
    }
    let mut table = Table::new(&["t s", "scale", "ready", "starting"]);
    for event in &pool.events {
        let after = pool.counts.iter().rev().find(|c| c.t_s <= event.t_s);
        table.row(vec![
            format!("{:.3}", event.t_s),
            format!("{} -> {}", event.from, event.to),
            after.map_or_else(|| "-".to_string(), |c| c.ready.to_string()),
            after.map_or_else(|| "-".to_string(), |c| c.starting.to_string()),
        ]);
    }
    table.render(out);
}

fn fmt_s(s: f64) -> String {
    format!("{s:.3} s")
}

pub(super) fn deploy(report: &Report, out: &mut String) {
    let Some(deploy) = &report.deploy else {
        return;
    };
    section(out, "Deploy (from the deploy controller's states)");
    let mut table = Table::new(&[
        "<strategy",
        "<version",
        "<quality",
        "start s",
        "end s",
        "<outcome",
        "failed requests",
        "rollback s",
    ]);
    table.row(vec![
        deploy.strategy.clone(),
        deploy.version.clone(),
        deploy.quality.clone(),
        format!("{:.3}", deploy.start_s),
        deploy.end_s.map_or_else(|| "-".to_string(), |t| format!("{t:.3}")),
        if deploy.reason.is_empty() {
            deploy.outcome.clone()
        } else {
            format!("{}: {}", deploy.outcome, deploy.reason)
        },
        deploy.failed_requests.to_string(),
        deploy.time_to_rollback_s.map_or_else(|| "-".to_string(), |t| format!("{t:.3}")),
    ]);
    table.render(out);
    let mut table = Table::new(&["t s", "new ready", "old ready"]);
    for count in &deploy.counts {
        table.row(vec![format!("{:.3}", count.t_s), count.new_ready.to_string(), count.old_ready.to_string()]);
    }
    table.render(out);
}

pub(super) fn geo(report: &Report, out: &mut String) {
    let Some(geo) = &report.geo else {
        return;
    };
    section(out, "Active-active store (regions' agreement, lag, last-writer-wins)");
    let mut table = Table::new(&["<node", "windows held", "max behind ms", "behind at end ms", "discarded", "refused"]);
    for n in &geo.nodes {
        table.row(vec![
            n.host.clone(),
            n.windows.to_string(),
            n.max_behind_ms.to_string(),
            n.behind_at_end_ms.to_string(),
            n.discarded.to_string(),
            n.refused.to_string(),
        ]);
    }
    table.render(out);
    out.push_str(&format!(
        "  windows compared: {}; differing: {}\n  writes lost to last-writer-wins: {} ({} issued after the write that beat them was acknowledged)\n",
        geo.windows_compared, geo.disagreements, geo.lww_lost, geo.lww_lost_to_skew
    ));
    for d in &geo.disagreements_listed {
        out.push_str(&format!(
            "  window {}: {} holds {}, {} holds {} (at {:.3} s)\n",
            d.window, d.first.0, d.first.1, d.other.0, d.other.1, d.at_s
        ));
    }
    let since = geo.last_fault_s.map_or_else(|| "the start".to_string(), |t| format!("the last fault ({t:.3} s)"));
    match geo.converged_after_s {
        Some(s) => out.push_str(&format!("  every region caught up {s:.3} s after {since}\n")),
        None => out.push_str(&format!("  the regions had not caught up by the end, after {since}\n")),
    }
}
