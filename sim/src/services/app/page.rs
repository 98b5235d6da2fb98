//! An app's page in a scenario (`page = { parts = [...], fanout = "parallel" }`): the parts
//! `GET /page/{key}` composes, each in process (its `work`, on the app's worker) or on a part
//! service host (`host`, over HTTP, behind an optional breaker); their checks, their plan and
//! the model's configuration built from it.
//!
//! Must not: know how a part runs (the model's `app::page` does).

use super::super::{Want, expect, ns};
use super::resilience::{BreakerPlan, BreakerSpec};
use crate::plan::ServiceTimePlan;
use crate::scenario::spans::Seg;
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, ServiceTimeSpec, Sp, Workload};
use faultline_models::app::{Fanout, PageConfig, PartAt, PartConfig};
use faultline_models::server::ServiceTime;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;

/// The page an app composes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageSpec {
    /// The parts, in the order the page shows them; at least one, names unique.
    pub parts: Vec<PartSpec>,
    /// "parallel" (all parts at once; the page waits for the last) or "sequential". Default
    /// "parallel".
    #[serde(default)]
    pub fanout: FanoutSpec,
    /// Timeout of each call to a part's host. Default "250ms".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn default_timeout() -> Dur {
    Dur(Duration::from_millis(250))
}

/// One part of a page.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartSpec {
    /// Its name, which prefixes the key it reads (`{name}:{key}`).
    #[schemars(with = "String")]
    pub name: Sp<String>,
    /// In process (no `host`): the work it costs the app's worker, as a host's
    /// `service_time` is written. Default "zero". Not with `host`: there the service host's
    /// own `service_time` is the part's work.
    #[serde(default)]
    pub work: Option<ServiceTimeSpec>,
    /// A `service` host that serves the part over HTTP. Default: none (in process).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub host: Option<Sp<String>>,
    /// When it fails, serve the page without it (degraded) instead of failing. Default false.
    #[serde(default)]
    pub optional: bool,
    /// With `host`: a circuit breaker around its calls. Default: none.
    #[serde(default)]
    pub breaker: Option<BreakerSpec>,
}

/// How a page runs its parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FanoutSpec {
    /// All at once.
    #[default]
    Parallel,
    /// One after another.
    Sequential,
}

/// A page in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PagePlan {
    /// The parts.
    pub parts: Vec<PartPlan>,
    /// How they run.
    pub fanout: FanoutSpec,
    /// Timeout of each call to a part's host, nanoseconds.
    pub timeout_ns: u64,
}

/// A part in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartPlan {
    /// Its name.
    pub name: String,
    /// In process: its work; `None` with a host.
    pub work: Option<ServiceTimePlan>,
    /// "host:port" of its service, if it has one.
    pub host: Option<String>,
    /// Whether the page is served without it when it fails.
    pub optional: bool,
    /// A breaker around its calls.
    pub breaker: Option<BreakerPlan>,
}

impl PageSpec {
    /// Checks the page of app host `index`; `span` locates the page, `http` says whether the
    /// app speaks HTTP.
    pub(super) fn validate(&self, c: &mut Checker, index: usize, span: Range<usize>, http: bool) {
        if !http {
            let message = "`page` is served as `GET /page/{key}`, which only an app with protocol = \"http\" serves; expected protocol = \"http\"".into();
            c.report(span.clone(), "not over HTTP", message);
        }
        if self.parts.is_empty() {
            c.report(span.clone(), "no parts", "a page has no parts; expected at least one in `parts`".into());
        }
        if self.timeout.0.is_zero() {
            let message = "a page's `timeout` is 0; expected a timeout longer than 0, e.g. \"250ms\"".into();
            c.report(span.clone(), "zero", message);
        }
        let mut names = BTreeSet::new();
        for (i, part) in self.parts.iter().enumerate() {
            let name = part.name.get_ref();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                let message = format!("part name {name:?} is not a word; expected letters, digits, '-' or '_'");
                c.report(part.name.span(), "not a part name", message);
            } else if !names.insert(name.as_str()) {
                let message = format!("part {name:?} is named twice; expected each part's name once");
                c.report(part.name.span(), "named twice", message);
            }
            let part_span = c.span_at(&part_path(index, i), span.clone());
            part.validate(c, part_span);
        }
    }

    /// The page's plan.
    pub(super) fn compile(&self, addr: impl Fn(&Sp<String>) -> String) -> PagePlan {
        let parts = self.parts.iter().map(|part| PartPlan {
            name: part.name.get_ref().clone(),
            work: match &part.host {
                Some(_) => None,
                None => Some(work_plan(part.work.as_ref().unwrap_or(&ServiceTimeSpec::Zero))),
            },
            host: part.host.as_ref().map(&addr),
            optional: part.optional,
            breaker: part.breaker.as_ref().map(BreakerSpec::compile),
        });
        PagePlan { parts: parts.collect(), fanout: self.fanout, timeout_ns: ns(self.timeout.0) }
    }
}

fn part_path(index: usize, part: usize) -> [Seg<'static>; 7] {
    [
        Seg::Key("hosts"),
        Seg::Index(index),
        Seg::Key("service"),
        Seg::Key("app"),
        Seg::Key("page"),
        Seg::Key("parts"),
        Seg::Index(part),
    ]
}

impl PartSpec {
    fn validate(&self, c: &mut Checker, span: Range<usize>) {
        let name = self.name.get_ref();
        match &self.host {
            Some(host) => {
                expect(c, host, Want::Service, &format!("page part {name:?}'s `host`"));
                if self.work.is_some() {
                    let message = format!(
                        "part {name:?} has both `work` and `host`; a service host's own `service_time` is its work, so expected one of them"
                    );
                    c.report(span.clone(), "work and host", message);
                }
            }
            None if self.breaker.is_some() => {
                let message =
                    format!("part {name:?} has a `breaker` but no `host`; a breaker guards calls to a part's host");
                c.report(span.clone(), "breaker without host", message);
            }
            None => {}
        }
        if let Some(ServiceTimeSpec::Lognormal { mean, sigma }) = &self.work {
            let value = *sigma.get_ref();
            if !(value.is_finite() && (0.0..=10.0).contains(&value)) {
                let message =
                    format!("lognormal sigma {value} is out of range; expected a number in [0, 10], e.g. 1.0");
                c.report(sigma.span(), "out of range", message);
            }
            if mean.0.is_zero() {
                let message =
                    format!("part {name:?}'s lognormal work has mean 0; expected a mean above 0, or \"zero\"");
                c.report(span.clone(), "zero mean", message);
            }
        }
        if let Some(breaker) = &self.breaker {
            breaker.validate(c, span, &format!("part {name:?}'s `breaker`"));
        }
    }
}

fn work_plan(work: &ServiceTimeSpec) -> ServiceTimePlan {
    match work {
        ServiceTimeSpec::Zero => ServiceTimePlan::Zero,
        ServiceTimeSpec::Fixed(d) => ServiceTimePlan::Fixed { ns: ns(d.0) },
        ServiceTimeSpec::Exponential(d) => ServiceTimePlan::Exponential { mean_ns: ns(d.0) },
        ServiceTimeSpec::Lognormal { mean, sigma } => {
            ServiceTimePlan::Lognormal { mean_ns: ns(mean.0), sigma: *sigma.get_ref() }
        }
    }
}

fn work_config(work: &ServiceTimePlan) -> ServiceTime {
    match *work {
        ServiceTimePlan::Zero => ServiceTime::Zero,
        ServiceTimePlan::Fixed { ns } => ServiceTime::Fixed(Duration::from_nanos(ns)),
        ServiceTimePlan::Exponential { mean_ns } => ServiceTime::Exponential(Duration::from_nanos(mean_ns)),
        ServiceTimePlan::Lognormal { mean_ns, sigma } => {
            ServiceTime::LogNormal { mean: Duration::from_nanos(mean_ns), sigma }
        }
    }
}

impl PagePlan {
    /// The model's configuration.
    pub(super) fn config(&self) -> PageConfig {
        let parts = self.parts.iter().map(|part| PartConfig {
            name: part.name.clone(),
            at: match (&part.host, &part.work) {
                (Some(addr), _) => {
                    PartAt::Remote { addr: addr.clone(), breaker: part.breaker.as_ref().map(BreakerPlan::config) }
                }
                (None, work) => PartAt::InProcess(work.as_ref().map_or(ServiceTime::Zero, work_config)),
            },
            optional: part.optional,
        });
        PageConfig {
            parts: parts.collect(),
            fanout: match self.fanout {
                FanoutSpec::Parallel => Fanout::Parallel,
                FanoutSpec::Sequential => Fanout::Sequential,
            },
            timeout: Duration::from_nanos(self.timeout_ns),
        }
    }
}

/// Checks the workload's `page_ratio`: a share in [0, 1], at most what `others` (the shares
/// of reads, CAS and checkouts, when each is in range) leave, and only for targets that speak
/// HTTP.
pub(crate) fn page_ratio(c: &mut Checker, workload: &Workload, others: [f64; 3]) {
    let pages = *workload.page_ratio.get_ref();
    let span = workload.page_ratio.span();
    if !(0.0..=1.0).contains(&pages) {
        let message = format!("page_ratio {pages} is out of range; expected a share of page views in [0, 1]");
        c.report(span, "not in [0, 1]", message);
        return;
    }
    if pages == 0.0 {
        return;
    }
    if others.iter().all(|share| (0.0..=1.0).contains(share)) && others.iter().sum::<f64>() + pages > 1.0 + 1e-9 {
        let [reads, cas, checkouts] = others;
        let message = format!(
            "read_ratio {reads} + cas_ratio {cas} + checkout_ratio {checkouts} + page_ratio {pages} is more than 1; expected them to share at most all requests"
        );
        c.report(span.clone(), "more than all requests", message);
    }
    for target in &workload.targets {
        if let Some(host) = c.hosts.get(target.get_ref().as_str())
            && host.service.load_api() != Some(super::super::LoadApi::Http)
        {
            let message = format!(
                "page_ratio is {pages} but host {:?} does not serve `GET /page/{{key}}`; expected an app with protocol = \"http\" and a `page`",
                target.get_ref()
            );
            c.report(span.clone(), "no page", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::validate::tests::check;

    const APP: &str = r#"service = { app = { db = "db", read_from = "replica", cache = "cache" } }"#;

    /// The quickstart's app over HTTP with `page`, and a part service `svc` after it.
    fn with_page(page: &str) -> String {
        format!(
            "service = {{ app = {{ db = \"db\", protocol = \"http\", page = {page} }} }}\n\n[[hosts]]\nname = \"svc\"\nservice = {{ service = {{ db = \"db\" }} }}"
        )
    }

    #[test]
    fn a_valid_page_has_no_findings() {
        let page = r#"{ parts = [{ name = "profile", work = { fixed = "2ms" } }, { name = "recs", host = "svc", optional = true, breaker = { window = 10, minimum_calls = 5 } }] }"#;
        check(APP, &with_page(page), &[]);
    }

    #[test]
    fn a_parts_host_must_be_a_service() {
        let page = r#"{ parts = [{ name = "recs", host = "cache" }] }"#;
        check(
            APP,
            &with_page(page),
            &[(
                "page part \"recs\"'s `host` must be a service, but \"cache\" is a cache; the service hosts are: svc",
                "\"cache\"",
            )],
        );
    }

    #[test]
    fn part_names_are_unique_words() {
        let page = r#"{ parts = [{ name = "recs" }, { name = "recs" }, { name = "a/b" }] }"#;
        check(
            APP,
            &with_page(page),
            &[("part \"recs\" is named twice", "\"recs\""), ("part name \"a/b\" is not a word", "\"a/b\"")],
        );
    }

    #[test]
    fn work_belongs_to_in_process_parts_and_breakers_to_hosted_ones() {
        let page = r#"{ parts = [{ name = "recs", host = "svc", work = "zero" }, { name = "ads", breaker = {} }] }"#;
        check(
            APP,
            &with_page(page),
            &[
                ("part \"recs\" has both `work` and `host`", r#"{ name = "recs", host = "svc", work = "zero" }"#),
                ("part \"ads\" has a `breaker` but no `host`", r#"{ name = "ads", breaker = {} }"#),
            ],
        );
    }

    #[test]
    fn a_page_needs_http_parts_and_a_timeout() {
        let framed = r#"service = { app = { db = "db", page = { parts = [], timeout = "0s" } } }"#;
        let page = r#"{ parts = [], timeout = "0s" }"#;
        check(
            APP,
            framed,
            &[("only an app with protocol = \"http\"", page), ("a page has no parts", page), ("`timeout` is 0", page)],
        );
    }

    #[test]
    fn the_page_ratio_is_a_share_of_what_is_left_for_an_http_target() {
        check(
            "users = 50",
            "users = 50\npage_ratio = 0.2",
            &[("page_ratio 0.2 is more than 1", "0.2"), ("does not serve `GET /page/{key}`", "0.2")],
        );
        check("users = 50", "users = 50\npage_ratio = 1.5", &[("page_ratio 1.5 is out of range", "1.5")]);
    }
}
