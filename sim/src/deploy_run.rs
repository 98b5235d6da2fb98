//! The deploy controller's steps: laying the pool out, probing readiness, the stages of each
//! strategy and the analysis. Must not: decide counts itself (`faultline_models::deploy` does).

use super::*;

impl Deployer {
    /// The controller of `plan` (validated).
    pub(crate) fn new(plan: DeployPlan) -> Self {
        let life = Instances::new(plan.instances.clone(), plan.endpoints.clone());
        let n = plan.instances.len();
        Self {
            life,
            versions: vec![Ver::Stable; n],
            stage: Stage::Waiting,
            next_probe_ns: plan.at_ns,
            best: (0, u32::MAX),
            progress_ns: plan.at_ns,
            analysis: None,
            next_analysis_ns: 0,
            failed_marks: vec![0; n],
            breach: None,
            plan,
        }
    }

    /// Lays the pool out at time 0: the first `desired` ready on the stable version, the rest
    /// stopped; every instance's latencies kept for the analysis.
    pub(crate) fn start(&mut self, control: &mut impl Control, world: &mut impl Observe) {
        self.life.lay_out(self.plan.desired as usize, control, world);
        self.publish(0, world);
    }

    /// One simulation step at `now_ns`.
    pub(crate) fn step(&mut self, now_ns: u64, control: &mut impl Control, world: &mut impl Observe) {
        let stopped = self.life.stop_drained(now_ns, control, world);
        if now_ns < self.next_probe_ns {
            if stopped {
                self.publish(now_ns, world);
            }
            return;
        }
        self.next_probe_ns = now_ns + self.plan.probe_ns;
        if self.stage == Stage::Waiting {
            self.begin(now_ns, world);
        }
        self.probe(now_ns, control, world);
        match self.stage.clone() {
            Stage::Waiting | Stage::Over => {}
            Stage::Rolling { target } => self.roll(target, now_ns, control, world),
            Stage::Canary { index, reached_ns } => self.canary(index, reached_ns, now_ns, control, world),
            Stage::Preview => self.preview(now_ns, control, world),
            Stage::Switched { at_ns } => self.switched(at_ns, now_ns, control, world),
        }
        self.publish(now_ns, world);
    }

    fn begin(&mut self, now_ns: u64, world: &mut impl Observe) {
        let (name, strategy) = (&self.plan.version.name, self.plan.strategy.name());
        let drain_s = self.plan.drain_ns as f64 / 1e9;
        let text = format!("start {name} {strategy} drain_s={drain_s} version={}", self.plan.version.describe());
        world.state(now_ns, self.plan.home, state::DEPLOY, text);
        self.stage = match &self.plan.strategy {
            StrategyPlan::Rolling { .. } => Stage::Rolling { target: Ver::New },
            StrategyPlan::Canary { .. } => Stage::Canary { index: 0, reached_ns: None },
            StrategyPlan::BlueGreen { .. } => Stage::Preview,
        };
        if let Some(analysis) = &self.plan.analysis {
            self.analysis = Some(Analysis::new(analysis.config()));
            self.next_analysis_ns = now_ns + analysis.interval_ns;
        }
        self.progress_ns = now_ns;
    }

    /// Readiness: a starting instance whose last health answer passed joins the endpoint sets
    /// (not a preview one: the switch puts those in); a ready one whose last answer failed
    /// leaves them.
    fn probe(&mut self, now_ns: u64, control: &mut impl Control, world: &mut impl Observe) {
        let preview = self.stage == Stage::Preview;
        for i in 0..self.life.len() {
            let healthy = world.health(self.life.host(i));
            match self.life.phase(i) {
                Phase::Starting { .. } if healthy && !preview => self.life.ready(i, now_ns, control, world),
                Phase::Ready if !healthy => {
                    self.life.endpoints(i, false, control);
                    self.life.enter(i, Phase::Starting { ready_ns: now_ns }, now_ns, world);
                }
                Phase::Starting { .. } | Phase::Ready | Phase::Stopped | Phase::Draining { .. } => {}
            }
        }
    }

    fn roll(&mut self, target: Ver, now_ns: u64, control: &mut impl Control, world: &mut impl Observe) {
        let StrategyPlan::Rolling { max_surge, max_unavailable, rollback } = self.plan.strategy else { return };
        let rolling = rolling(&self.plan, max_surge, max_unavailable);
        let now = counts(&self.life, &self.versions, target);
        if rolling.complete(now) {
            let text = if target == Ver::New { "complete" } else { "rolled back" };
            return self.finish(now_ns, text.to_string(), world);
        }
        if self.stalled(now, now_ns) {
            if target == Ver::New && rollback {
                let text = "deadline: rolling back".to_string();
                world.state(now_ns, self.plan.home, state::DEPLOY, text);
                self.stage = Stage::Rolling { target: Ver::Stable };
                (self.best, self.progress_ns) = ((0, u32::MAX), now_ns);
                return self.roll(Ver::Stable, now_ns, control, world);
            }
            return self.finish(now_ns, "halted: progress deadline".to_string(), world);
        }
        let free = self.life.count(|p| p == Phase::Stopped);
        let moves = rolling.next(now, free);
        self.apply(moves, target, now_ns, control, world);
    }

    /// Whether the rollout made no progress for the deadline (progress: more new ready, or
    /// fewer old running, than ever before).
    fn stalled(&mut self, now: Counts, now_ns: u64) -> bool {
        if now.new_ready > self.best.0 || now.old < self.best.1 {
            self.best = (self.best.0.max(now.new_ready), self.best.1.min(now.old));
            self.progress_ns = now_ns;
        }
        now_ns.saturating_sub(self.progress_ns) > self.plan.progress_deadline_ns
    }

    /// Makes `moves` toward `target`: not-ready old instances stop, ready old ones drain (last
    /// in the pool's order first), stopped hosts start on `target` (first first).
    fn apply(&mut self, moves: Moves, target: Ver, now_ns: u64, control: &mut impl Control, world: &mut impl Observe) {
        let Moves { mut start_new, mut stop_old_ready, mut stop_old_unready } = moves;
        for i in (0..self.life.len()).rev() {
            if self.versions[i] == target {
                continue;
            }
            match self.life.phase(i) {
                Phase::Starting { .. } if stop_old_unready > 0 => {
                    self.life.stop(i, true, now_ns, control, world);
                    stop_old_unready -= 1;
                }
                Phase::Ready if stop_old_ready > 0 => {
                    self.life.drain(i, now_ns, now_ns + self.plan.drain_ns, control, world);
                    stop_old_ready -= 1;
                }
                Phase::Starting { .. } | Phase::Ready | Phase::Stopped | Phase::Draining { .. } => {}
            }
        }
        for i in 0..self.life.len() {
            if start_new > 0 && self.life.phase(i) == Phase::Stopped {
                self.launch(i, target, now_ns, control, world);
                start_new -= 1;
            }
        }
    }

    /// Starts instance `i` on `ver`: the version's knobs, then the restart.
    fn launch(&mut self, i: usize, ver: Ver, now_ns: u64, control: &mut impl Control, world: &mut impl Observe) {
        let host = self.life.host(i);
        let v = &self.plan.version;
        let (health, requests, slow) = match ver {
            Ver::New => (u64::from(v.fail_health), u64::from(v.fail_requests), u64::from(v.slowdown)),
            Ver::Stable => (0, 0, 0),
        };
        control.turn_knob(host, Knob::FailHealth, health, 0);
        control.turn_knob(host, Knob::FailRequests, requests, 0);
        control.turn_knob(host, Knob::Slowdown, slow, 0);
        self.versions[i] = ver;
        self.life.start(i, now_ns, now_ns, control, world);
    }

    fn canary(&mut self, index: usize, reached: Option<u64>, now_ns: u64, c: &mut impl Control, w: &mut impl Observe) {
        let StrategyPlan::Canary { weights, pauses_ns } = &self.plan.strategy else { return };
        let (canary, pauses) = (canary(&self.plan, weights), pauses_ns.clone());
        if self.analyse(now_ns, w) {
            return self.abort_canary(now_ns, c, w);
        }
        let target = canary.target(index);
        let now = counts(&self.life, &self.versions, Ver::New);
        let steps = canary.weights.len();
        match reached {
            None if Canary::reached(target, now) => {
                let weight = canary.weights[index];
                let text = format!("step {}/{steps} weight {weight}%", index + 1);
                w.state(now_ns, self.plan.home, state::DEPLOY, text);
                if index + 1 == steps {
                    return self.finish(now_ns, "complete".to_string(), w);
                }
                self.stage = Stage::Canary { index, reached_ns: Some(now_ns) };
            }
            None => {
                if self.stalled(now, now_ns) {
                    return self.abort_canary_for("aborted: progress deadline", now_ns, c, w);
                }
                let free = self.life.count(|p| p == Phase::Stopped);
                self.apply(canary.next(target, now, free), Ver::New, now_ns, c, w);
            }
            Some(at) if now_ns >= at + pauses.get(index).copied().unwrap_or(0) => {
                self.stage = Stage::Canary { index: index + 1, reached_ns: None };
                self.progress_ns = now_ns;
                let target = canary.target(index + 1);
                let free = self.life.count(|p| p == Phase::Stopped);
                self.apply(canary.next(target, now, free), Ver::New, now_ns, c, w);
            }
            Some(_) => {}
        }
    }

    fn abort_canary(&mut self, now_ns: u64, c: &mut impl Control, w: &mut impl Observe) {
        let why = self.breach.take().unwrap_or_default();
        self.abort_canary_for(&format!("aborted: {why}"), now_ns, c, w);
    }

    /// All traffic back on the stable version: the new instances leave the endpoint sets and
    /// drain; stopped hosts start on the stable version up to `desired`.
    fn abort_canary_for(&mut self, text: &str, now_ns: u64, c: &mut impl Control, w: &mut impl Observe) {
        w.state(now_ns, self.plan.home, state::DEPLOY, text.to_string());
        self.retire(Ver::New, now_ns, c, w);
        let running = counts(&self.life, &self.versions, Ver::Stable).new;
        let mut missing = self.plan.desired.saturating_sub(running);
        for i in 0..self.life.len() {
            if missing > 0 && self.life.phase(i) == Phase::Stopped {
                self.launch(i, Ver::Stable, now_ns, c, w);
                missing -= 1;
            }
        }
        self.stage = Stage::Over;
    }

    /// Takes every running instance on `ver` out: ready ones drain, starting ones stop.
    fn retire(&mut self, ver: Ver, now_ns: u64, c: &mut impl Control, w: &mut impl Observe) {
        for i in 0..self.life.len() {
            if self.versions[i] != ver {
                continue;
            }
            match self.life.phase(i) {
                Phase::Ready => self.life.drain(i, now_ns, now_ns + self.plan.drain_ns, c, w),
                Phase::Starting { .. } => self.life.stop(i, true, now_ns, c, w),
                Phase::Stopped | Phase::Draining { .. } => {}
            }
        }
    }

    fn finish(&mut self, now_ns: u64, text: String, world: &mut impl Observe) {
        world.state(now_ns, self.plan.home, state::DEPLOY, text);
        self.stage = Stage::Over;
    }

    /// Runs a measurement when one is due, over what the ready new instances served since the
    /// last one: whether the analysis aborts (its breach kept for the state).
    fn analyse(&mut self, now_ns: u64, world: &mut impl Observe) -> bool {
        let Some(plan) = &self.plan.analysis else { return false };
        if now_ns < self.next_analysis_ns {
            return false;
        }
        self.next_analysis_ns = now_ns + plan.interval_ns;
        let (mut latencies, mut errors) = (Vec::new(), 0);
        for i in 0..self.life.len() {
            let host = self.life.host(i);
            let taken = world.take_latencies(host);
            let failed = world.failed(host);
            let delta = failed.saturating_sub(std::mem::replace(&mut self.failed_marks[i], failed));
            if self.versions[i] == Ver::New && self.life.phase(i) == Phase::Ready {
                latencies.extend(taken);
                errors += delta;
            }
        }
        let window = Window::of(latencies, errors);
        let Some(analysis) = &mut self.analysis else { return false };
        let (breach, abort) = match analysis.measure(&window) {
            Outcome::Continue(Verdict::Fail(breach)) => (breach, false),
            Outcome::Continue(Verdict::Pass | Verdict::Inconclusive) => return false,
            Outcome::Abort(breach) => (breach, true),
        };
        let text = format!("analysis failed: {breach} ({}/{})", analysis.failed(), plan.failures.max(1));
        world.state(now_ns, self.plan.home, state::DEPLOY, text);
        if abort {
            self.breach = Some(breach.to_string());
        }
        abort
    }

    /// Blue-green before the switch: the preview instances start on the spare hosts; once all
    /// passed their probe every endpoint set switches to them at once, and the old ones leave
    /// and stop `scale_down_delay` later. A preview that never gets ready aborts at the deadline.
    fn preview(&mut self, now_ns: u64, control: &mut impl Control, world: &mut impl Observe) {
        let StrategyPlan::BlueGreen { scale_down_delay_ns } = self.plan.strategy else { return };
        let now = counts(&self.life, &self.versions, Ver::New);
        let mut missing = self.plan.desired.saturating_sub(now.new);
        for i in 0..self.life.len() {
            if missing > 0 && self.life.phase(i) == Phase::Stopped {
                self.launch(i, Ver::New, now_ns, control, world);
                missing -= 1;
            }
        }
        let previews: Vec<usize> = (0..self.life.len())
            .filter(|&i| self.versions[i] == Ver::New && self.life.phase(i).is_starting())
            .collect();
        let passed = previews.iter().filter(|&&i| world.health(self.life.host(i))).count() as u32;
        if previews.len() as u32 == self.plan.desired && passed == self.plan.desired {
            world.state(now_ns, self.plan.home, state::DEPLOY, "switch".to_string());
            for &i in &previews {
                self.life.ready(i, now_ns, control, world);
            }
            for i in 0..self.life.len() {
                if self.versions[i] == Ver::Stable && self.life.phase(i) == Phase::Ready {
                    self.life.drain(i, now_ns, now_ns + scale_down_delay_ns, control, world);
                }
            }
            self.restart_analysis(now_ns, world);
            self.stage = Stage::Switched { at_ns: now_ns };
            return;
        }
        if self.stalled(Counts { new_ready: passed, ..now }, now_ns) {
            world.state(now_ns, self.plan.home, state::DEPLOY, "aborted: preview not ready".to_string());
            self.retire(Ver::New, now_ns, control, world);
            self.stage = Stage::Over;
        }
    }

    /// A fresh analysis from `now_ns`: what was served before does not count.
    fn restart_analysis(&mut self, now_ns: u64, world: &mut impl Observe) {
        let Some(plan) = &self.plan.analysis else { return };
        self.analysis = Some(Analysis::new(plan.config()));
        self.next_analysis_ns = now_ns + plan.interval_ns;
        for i in 0..self.life.len() {
            let host = self.life.host(i);
            world.take_latencies(host);
            self.failed_marks[i] = world.failed(host);
        }
    }

    /// Blue-green after the switch: complete once the old instances' delay is over; an analysis
    /// that aborts before switches back to them.
    fn switched(&mut self, at_ns: u64, now_ns: u64, control: &mut impl Control, world: &mut impl Observe) {
        let StrategyPlan::BlueGreen { scale_down_delay_ns } = self.plan.strategy else { return };
        if now_ns >= at_ns + scale_down_delay_ns {
            return self.finish(now_ns, "complete".to_string(), world);
        }
        if !self.analyse(now_ns, world) {
            return;
        }
        let why = self.breach.take().unwrap_or_default();
        for i in 0..self.life.len() {
            if self.versions[i] == Ver::Stable && matches!(self.life.phase(i), Phase::Draining { .. }) {
                self.life.ready(i, now_ns, control, world);
            }
        }
        self.retire(Ver::New, now_ns, control, world);
        self.finish(now_ns, format!("rolled back: {why}"), world);
    }

    fn publish(&self, now_ns: u64, world: &mut impl Observe) {
        let now = counts(&self.life, &self.versions, Ver::New);
        world.gauge(now_ns, self.plan.home, gauge::DEPLOY_NEW_READY, i64::from(now.new_ready));
        world.gauge(now_ns, self.plan.home, gauge::DEPLOY_OLD_READY, i64::from(now.old_ready));
    }
}
