//! The checks of the `[deploy]` table: every bad value reported at its place in the file.
//! Must not: compile anything (the table's `plan` does, after these pass).

use super::*;

/// Checks the `[deploy]` table, if any.
pub(crate) fn check(c: &mut Checker) {
    let Some(spec) = &c.scenario.deploy else { return };
    let table = c.span_at(&[Seg::Key("deploy")], 0..0);
    let at = |c: &Checker, key: &'static str| c.span_at(&[Seg::Key("deploy"), Seg::Key(key)], table.clone());
    super::super::autoscale::pool(c, &spec.pool, at(c, "pool"));
    hosts(c, spec);
    let (size, replicas) = (spec.pool.len() as u32, *spec.replicas.get_ref());
    if size > 0 && (replicas == 0 || replicas > size) {
        let message = format!("{replicas} replicas for a pool of {size}; expected 1 to {size}");
        c.report(spec.replicas.span(), "replicas", message);
    }
    if spec.at.get_ref().0 >= c.end() {
        let message =
            format!("the deploy starts at {:?}, after the end of the run ({:?})", spec.at.get_ref().0, c.end());
        c.report(spec.at.span(), "after the end", message);
    }
    for (value, key) in [(&spec.probe, "probe"), (&spec.progress_deadline, "progress_deadline")] {
        if value.get_ref().0.is_zero() {
            c.report(or(value.span(), at(c, key)), "zero", format!("`{key}` is 0; expected a duration above 0"));
        }
    }
    let fail = *spec.version.fail_requests.get_ref();
    if fail > 100 {
        c.report(
            spec.version.fail_requests.span(),
            "not a percent",
            format!("fail_requests {fail}; expected 0 to 100"),
        );
    }
    misplaced(c, spec);
    if replicas == 0 || replicas > size {
        return;
    }
    match spec.strategy {
        StrategySpec::Rolling => rolling(c, spec, replicas, &table),
        StrategySpec::Canary => canary(c, spec, replicas, size, &table),
        StrategySpec::BlueGreen if 2 * replicas > size => {
            let message =
                format!("blue-green needs {replicas} spare hosts for the preview: a pool of at least {}", 2 * replicas);
            c.report(at(c, "pool"), "pool too small", message);
        }
        StrategySpec::BlueGreen => {}
    }
    if let Some(analysis) = &spec.analysis {
        self::analysis(c, analysis);
    }
}

fn or(span: Range<usize>, fallback: Range<usize>) -> Range<usize> {
    if span.is_empty() { fallback } else { span }
}

/// Each pool host an app, its balancers with health checks, none in the autoscaled pool.
fn hosts(c: &mut Checker, spec: &DeploySpec) {
    let autoscaled: Vec<&str> =
        c.scenario.autoscale.iter().flat_map(|a| a.pool.iter().map(|p| p.get_ref().as_str())).collect();
    for name in &spec.pool {
        let Some(host) = c.hosts.get(name.get_ref().as_str()).copied() else { continue };
        if !matches!(host.service, Service::App(_)) {
            c.report(
                name.span(),
                "not an app",
                format!("{:?} is not an app; expected the pool's hosts to be apps", name.get_ref()),
            );
            continue;
        }
        if autoscaled.contains(&name.get_ref().as_str()) {
            let message = format!(
                "{:?} is in the [autoscale] pool too; a deploy and an autoscaler over the same hosts are not supported",
                name.get_ref()
            );
            c.report(name.span(), "autoscaled", message);
        }
        let unchecked = c.scenario.hosts.iter().map(Sp::get_ref).find(|h| {
            let Service::Lb(lb) = &h.service else { return false };
            lb.health.is_none() && lb.backends.iter().any(|b| b.get_ref() == name.get_ref())
        });
        if let Some(lb) = unchecked {
            let message = format!(
                "{:?} is behind {:?}, which has no health checks; a deploy's readiness probe reads the app's answers to them: give the balancer `health = {{ interval = \"1s\" }}`",
                name.get_ref(),
                lb.name.get_ref()
            );
            c.report(name.span(), "no health checks", message);
        }
    }
}

/// Keys of another strategy.
fn misplaced(c: &mut Checker, spec: &DeploySpec) {
    let strategy = spec.strategy;
    let mut wrong = |span: Range<usize>, key: &str, belongs: &str| {
        c.report(span, "not for this strategy", format!("`{key}` applies to {belongs} deploys only"));
    };
    if strategy != StrategySpec::Rolling {
        if let Some(v) = &spec.max_surge {
            wrong(v.span(), "max_surge", "rolling");
        }
        if let Some(v) = &spec.max_unavailable {
            wrong(v.span(), "max_unavailable", "rolling");
        }
        if let Some(v) = &spec.rollback {
            wrong(v.span(), "rollback", "rolling");
        }
    }
    if strategy != StrategySpec::Canary
        && let Some(v) = &spec.steps
    {
        wrong(v.span(), "steps", "canary");
    }
    if strategy != StrategySpec::BlueGreen
        && let Some(v) = &spec.scale_down_delay
    {
        wrong(v.span(), "scale_down_delay", "blue_green");
    }
    if strategy == StrategySpec::Rolling
        && let Some(v) = &spec.analysis
    {
        wrong(v.span(), "analysis", "canary and blue_green");
    }
}

fn rolling(c: &mut Checker, spec: &DeploySpec, replicas: u32, table: &Range<usize>) {
    let (surge, unavailable) = spec.amounts();
    let span = |v: &Option<Sp<AmountSpec>>| v.as_ref().map_or(table.clone(), Sp::span);
    let (surge, unavailable) = match (surge, unavailable) {
        (Ok(s), Ok(u)) => (s, u),
        (s, u) => {
            if let Err(why) = s {
                c.report(span(&spec.max_surge), "not an amount", format!("max_surge {why}"));
            }
            if let Err(why) = u {
                c.report(span(&spec.max_unavailable), "not an amount", format!("max_unavailable {why}"));
            }
            return;
        }
    };
    match Rolling::new(replicas, surge, unavailable) {
        Ok(rolling) if rolling.max_surge as usize + replicas as usize > spec.pool.len() => {
            let message = format!(
                "a surge of {} over {replicas} replicas needs a pool of {}; the pool has {}",
                rolling.max_surge,
                rolling.max_total(),
                spec.pool.len()
            );
            c.report(span(&spec.max_surge), "pool too small", message);
        }
        Ok(_) => {}
        Err(e) => c.report(span(&spec.max_surge), "not a rolling update", e.to_string()),
    }
}

fn canary(c: &mut Checker, spec: &DeploySpec, replicas: u32, size: u32, table: &Range<usize>) {
    let Some(steps) = &spec.steps else {
        c.report(table.clone(), "no steps", "a canary needs `steps = [{ weight = 25, pause = \"10s\" }, ...]`".into());
        return;
    };
    let canary = match Canary::new(replicas, spec.weights()) {
        Ok(canary) => canary,
        Err(e) => return c.report(steps.span(), "not canary steps", e.to_string()),
    };
    // A step starts its new instances before the old ones of the step before stop.
    let mut old = replicas;
    for index in 0..canary.weights.len() {
        let target = canary.target(index);
        let counts = Counts { old, old_ready: old, new: target.new, new_ready: 0 };
        if counts.total() > size {
            let message = format!(
                "step {} (weight {}%) runs {} instances while the step before still runs {old} old ones; the pool has {size}",
                index + 1,
                canary.weights[index],
                target.new
            );
            return c.report(steps.span(), "pool too small", message);
        }
        old = target.old;
    }
}

fn analysis(c: &mut Checker, analysis: &Sp<AnalysisSpec>) {
    let (a, span) = (analysis.get_ref(), analysis.span());
    if a.max_error_rate.is_none() && a.max_p99.is_none() {
        c.report(span.clone(), "no threshold", "an analysis needs `max_error_rate` or `max_p99`".into());
    }
    if let Some(rate) = a.max_error_rate
        && !(0.0..=1.0).contains(&rate)
    {
        c.report(span.clone(), "not a rate", format!("max_error_rate {rate}; expected 0 to 1"));
    }
    if a.interval.0.is_zero() {
        c.report(span.clone(), "zero", "the analysis `interval` is 0; expected a duration above 0".into());
    }
    if a.failures == 0 {
        c.report(span, "zero", "the analysis `failures` is 0; expected 1 or more".into());
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::validate::tests::check_in as check;

    const ROLLING: &str = include_str!("../../../scenarios/deploy-rolling.toml");
    const CANARY: &str = include_str!("../../../scenarios/deploy-canary-abort.toml");
    const BLUE_GREEN: &str = include_str!("../../../scenarios/deploy-blue-green.toml");

    #[test]
    fn the_deploy_scenarios_are_valid() {
        for base in [ROLLING, CANARY, BLUE_GREEN] {
            check(base, "", "", &[]);
        }
    }

    #[test]
    fn pool_hosts_are_apps_behind_checked_balancers_and_not_autoscaled() {
        check(
            ROLLING,
            "pool = [\"app1\"",
            "pool = [\"db\"",
            &[("no load balancer's backend", "\"db\""), ("not an app", "\"db\"")],
        );
        check(ROLLING, "pool = [\"app1\"", "pool = [\"app0\"", &[("unknown host \"app0\"", "\"app0\"")]);
        check(
            ROLLING,
            ", retries = 0, health = { interval = \"1s\", timeout = \"500ms\" } }",
            ", retries = 0 }",
            &[
                ("which has no health checks", "\"app1\""),
                ("which has no health checks", "\"app2\""),
                ("which has no health checks", "\"app3\""),
                ("which has no health checks", "\"app4\""),
                ("which has no health checks", "\"app5\""),
                ("which has no health checks", "\"app6\""),
            ],
        );
        check(
            ROLLING,
            "[deploy]",
            "[autoscale]\npool = [\"app5\", \"app6\"]\ntarget = 50\n\n[deploy]",
            &[("in the [autoscale] pool too", "\"app5\""), ("in the [autoscale] pool too", "\"app6\"")],
        );
    }

    #[test]
    fn counts_times_and_percents_are_checked() {
        check(ROLLING, "replicas = 4", "replicas = 7", &[("7 replicas for a pool of 6", "7")]);
        check(ROLLING, "replicas = 4", "replicas = 0", &[("0 replicas for a pool of 6", "0")]);
        check(ROLLING, "at = \"10s\"", "at = \"50s\"", &[("after the end of the run", "\"50s\"")]);
        check(ROLLING, "probe = \"1s\"", "probe = \"0s\"", &[("`probe` is 0", "\"0s\"")]);
        check(ROLLING, "{ name = \"v2\" }", "{ name = \"v2\", fail_requests = 130 }", &[("fail_requests 130", "130")]);
    }

    #[test]
    fn rolling_bounds_are_checked() {
        check(ROLLING, "\nmax_surge = 1", "\nmax_surge = 0", &[("both 0", "0")]);
        check(
            ROLLING,
            "\nmax_surge = 1",
            "\nmax_surge = \"25 percent\"",
            &[("expected a count or a percent", "\"25 percent\"")],
        );
        check(
            ROLLING,
            "\nmax_unavailable = 0",
            "\nmax_unavailable = \"150%\"",
            &[("max_unavailable \"150%\"", "\"150%\"")],
        );
        check(ROLLING, "\nmax_surge = 1", "\nmax_surge = 3", &[("needs a pool of 7; the pool has 6", "3")]);
        check(ROLLING, "\nmax_surge = 1", "\nmax_surge = \"50%\"", &[]);
    }

    #[test]
    fn strategy_settings_belong_to_their_strategy() {
        check(
            ROLLING,
            "\nmax_surge = 1",
            "\nmax_surge = 1\nscale_down_delay = \"5s\"",
            &[("applies to blue_green", "\"5s\"")],
        );
        check(
            ROLLING,
            "\nmax_surge = 1",
            "\nmax_surge = 1\nanalysis = { max_error_rate = 0.1 }",
            &[("`analysis` applies to canary and blue_green", "{ max_error_rate = 0.1 }")],
        );
        check(
            CANARY,
            "strategy = \"canary\"",
            "strategy = \"canary\"\nrollback = \"auto\"",
            &[("applies to rolling", "\"auto\"")],
        );
        check(
            BLUE_GREEN,
            "scale_down_delay = \"30s\"",
            "steps = [{ weight = 50 }]",
            &[("`steps` applies to canary", "[{ weight = 50 }]")],
        );
    }

    #[test]
    fn canary_steps_and_analysis_are_checked() {
        let steps = "steps = [{ weight = 25, pause = \"10s\" }, { weight = 50, pause = \"10s\" }]";
        check(
            CANARY,
            steps,
            "steps = [{ weight = 50 }, { weight = 25 }]",
            &[("step 1's weight 25", "[{ weight = 50 }, { weight = 25 }]")],
        );
        check(CANARY, steps, "steps = []", &[("at least one step", "[]")]);
        check(CANARY, steps, "", &[("a canary needs `steps", "[deploy]")]);
        check(CANARY, "replicas = 4", "replicas = 5", &[("the pool has 6", steps.trim_start_matches("steps = "))]);
        let analysis = "analysis = { max_error_rate = 0.05, interval = \"2s\", failures = 2, min_requests = 10 }";
        check(
            CANARY,
            analysis,
            "analysis = { interval = \"2s\" }",
            &[("needs `max_error_rate` or `max_p99`", "{ interval = \"2s\" }")],
        );
        check(
            CANARY,
            analysis,
            "analysis = { max_error_rate = 5.0 }",
            &[("max_error_rate 5; expected 0 to 1", "{ max_error_rate = 5.0 }")],
        );
        check(
            CANARY,
            analysis,
            "analysis = { max_error_rate = 0.1, interval = \"0s\", failures = 0 }",
            &[
                ("`interval` is 0", "{ max_error_rate = 0.1, interval = \"0s\", failures = 0 }"),
                ("`failures` is 0", "{ max_error_rate = 0.1, interval = \"0s\", failures = 0 }"),
            ],
        );
    }

    #[test]
    fn blue_green_needs_spare_hosts_for_its_preview() {
        check(
            BLUE_GREEN,
            "replicas = 4",
            "replicas = 5",
            &[(
                "a pool of at least 10",
                "[\"app1\", \"app2\", \"app3\", \"app4\", \"app5\", \"app6\", \"app7\", \"app8\"]",
            )],
        );
    }
}
