//! Sparse gauge samples and the dense series they stand for.
//!
//! From format version 10 a trace samples a gauge only at the sampling times at which it had
//! changed since its last sample (and every gauge once at the end): its [`Event::Sample`]
//! carries the value at that time and the time-weighted mean since the gauge's previous sample,
//! a span that may cover quiet sampling intervals (the gauge held its previous value through
//! them) before the one in which it changed. Readers that integrate over time (a mean times its
//! span) or carry a value forward read them as they are; readers that want a value at every
//! sampling time (plots, sustained-level detection) rebuild the dense series with [`Dense`],
//! which gives exactly the samples a dense recording would have held: the quiet sampling times
//! with the held value, and the changed interval's own mean (the span's integral less the held
//! stretch's).
//!
//! Owns: that reconstruction. Must not: read anything but the samples it is handed.
//!
//! [`Event::Sample`]: super::Event::Sample

use std::collections::BTreeMap;

/// One dense sample: its time, the gauge's value then and its mean over the interval it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensePoint {
    /// The sampling time, ns.
    pub t_ns: u64,
    /// The value then.
    pub last: i64,
    /// The time-weighted mean over the interval that ends then.
    pub mean: f64,
}

/// Rebuilds every gauge's dense series from sparse samples (the default passes dense samples
/// through, as [`Dense::new`] with 0 does).
#[derive(Debug, Clone, Default)]
pub struct Dense {
    sample_ns: u64,
    /// Per (host, gauge): its previous sample's time and value.
    previous: BTreeMap<(u16, String), (u64, i64)>,
}

impl Dense {
    /// For a trace sampled every `sample_ns` (its header's; 0: the samples are dense already
    /// and pass through unchanged).
    pub fn new(sample_ns: u64) -> Self {
        Self { sample_ns, previous: BTreeMap::new() }
    }

    /// Takes one sample and hands `out` the dense samples it stands for, in time order (the
    /// quiet sampling times since the gauge's previous sample, then this one). Time order
    /// holds within a gauge's series, not across gauges.
    pub fn push(&mut self, t_ns: u64, host: u16, gauge: &str, last: i64, mean: f64, mut out: impl FnMut(DensePoint)) {
        let step = self.sample_ns;
        let key = (host, gauge.to_string());
        let previous = self.previous.insert(key, (t_ns, last));
        let Some((from_ns, held)) = previous.filter(|(from_ns, _)| step > 0 && t_ns > *from_ns) else {
            out(DensePoint { t_ns, last, mean });
            return;
        };
        // The interval this sample ends starts at the sampling time before it (or at the
        // previous sample, if later); every sampling time from the previous sample to that start
        // held the previous value.
        let start_ns = ((t_ns - 1) / step * step).max(from_ns);
        let mut quiet_ns = from_ns.next_multiple_of(step);
        if quiet_ns == from_ns {
            quiet_ns += step;
        }
        while quiet_ns <= start_ns {
            out(DensePoint { t_ns: quiet_ns, last: held, mean: held as f64 });
            quiet_ns += step;
        }
        let own_ns = t_ns - start_ns;
        let mean = if start_ns == from_ns {
            mean
        } else {
            (mean * (t_ns - from_ns) as f64 - held as f64 * (start_ns - from_ns) as f64) / own_ns as f64
        };
        out(DensePoint { t_ns, last, mean });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 100;

    fn dense(samples: &[(u64, i64, f64)]) -> Vec<(u64, i64, f64)> {
        let mut dense = Dense::new(S);
        let mut out = Vec::new();
        for &(t, last, mean) in samples {
            dense.push(t, 0, "g", last, mean, |p| out.push((p.t_ns, p.last, p.mean)));
        }
        out
    }

    #[test]
    fn quiet_sampling_times_hold_the_previous_value() {
        // 2 from 0 to 350, then 6 (changed at 350); sampled at 100 (first), 400, and the end 420.
        // The sample at 400 spans 100..400: 2 for 250, 6 for 50: mean (500 + 300) / 300.
        let got = dense(&[(100, 2, 2.0), (400, 6, 800.0 / 300.0), (420, 6, 6.0)]);
        let expected = vec![(100, 2, 2.0), (200, 2, 2.0), (300, 2, 2.0), (400, 6, 4.0), (420, 6, 6.0)];
        assert_eq!(got.len(), expected.len(), "{got:?}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!((g.0, g.1), (e.0, e.1));
            assert!((g.2 - e.2).abs() < 1e-9, "{got:?}");
        }
    }

    #[test]
    fn the_end_fills_up_to_the_last_sample_and_splits_its_mean() {
        // 5 held from 100 to the end at 350 (off the grid): sampled at 100 and at the end.
        let got = dense(&[(100, 5, 3.0), (350, 5, 5.0)]);
        assert_eq!(got, vec![(100, 5, 3.0), (200, 5, 5.0), (300, 5, 5.0), (350, 5, 5.0)]);
    }

    #[test]
    fn dense_samples_and_an_unsampled_trace_pass_through() {
        let samples = [(100, 1, 0.5), (200, 3, 2.0), (300, 0, 1.5)];
        assert_eq!(dense(&samples), samples.to_vec());
        let mut passthrough = Dense::new(0);
        let mut out = Vec::new();
        for (t, last, mean) in [(100, 1, 1.0), (900, 4, 2.5)] {
            passthrough.push(t, 3, "g", last, mean, |p| out.push(p.t_ns));
        }
        assert_eq!(out, vec![100, 900], "sample_ns 0: an older trace's samples are taken as they are");
    }

    #[test]
    fn gauges_are_separate_series() {
        let mut dense = Dense::new(S);
        let mut out = Vec::new();
        dense.push(100, 0, "a", 1, 1.0, |p| out.push(("a", p.t_ns)));
        dense.push(100, 1, "a", 7, 7.0, |p| out.push(("a1", p.t_ns)));
        dense.push(300, 0, "a", 2, 1.5, |p| out.push(("a", p.t_ns)));
        dense.push(200, 1, "b", 2, 2.0, |p| out.push(("b1", p.t_ns)));
        assert_eq!(out, vec![("a", 100), ("a1", 100), ("a", 200), ("a", 300), ("b1", 200)]);
    }
}
