//! The recorder's sink: the trace writer and the report's analyzer, on a thread of their own.
//!
//! Putting each step's events in time order, encoding, hashing and compressing the trace and
//! folding every event into the report's metrics cost as much as a sixth of a run, and none of
//! it feeds back into the simulation: the world only reads the report when the run is over. So
//! the sink runs beside the simulation on a second core. The recorder hands it the events as
//! they were recorded, step by step, in batches of about [`BATCH_RECORDS`] records (one
//! wake-up per batch, never one per step), through a channel that holds at most
//! [`BATCHES_IN_FLIGHT`] batches: memory stays bounded, and a simulation that outruns its sink
//! waits for it.
//!
//! Determinism is untouched: which records there are and the order they were recorded in are
//! fixed on the simulation's thread, and the sink sorts each step stably by time (ties keep
//! that order), so the trace bytes and its hash are the same whatever the threads do; the
//! sink's thread decides only when they are written, never what. Emptied batches come back to
//! the recorder to be filled again, so the steady state allocates nothing.

use faultline_chaos::report::{Analyzer, Report};
use faultline_chaos::trace::codec::{TraceError, TraceHash, TraceWriter};
use faultline_chaos::trace::{Header, Record};
use std::io::Write;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Records per batch handed to the sink.
pub(crate) const BATCH_RECORDS: usize = 8192;

/// Batches queued for the sink at most (besides the one it is working on).
const BATCHES_IN_FLIGHT: usize = 4;

/// Where a run's trace goes: any writer that can move to the sink's thread.
pub type TraceOut = Box<dyn Write + Send>;

/// What the sink gives back at the end: the report, the trace hash and the record count.
pub(crate) type Finished = (Report, TraceHash, u64);

/// Records of whole steps, in the order they were recorded.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) records: Vec<Record>,
    /// Where each step ends in `records` (exclusive), in order.
    pub(crate) steps: Vec<usize>,
}

impl Batch {
    pub(crate) fn with_capacity(records: usize) -> Self {
        Self { records: Vec::with_capacity(records), steps: Vec::new() }
    }

    /// Closes the current step: the records pushed since the last one belong to it.
    pub(crate) fn end_step(&mut self) {
        if self.steps.last() != Some(&self.records.len()) {
            self.steps.push(self.records.len());
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The simulation's end of the sink.
pub(crate) struct Sink {
    batches: Option<mpsc::SyncSender<Batch>>,
    empties: mpsc::Receiver<Batch>,
    worker: Option<JoinHandle<Result<Finished, TraceError>>>,
}

/// The trace writer and the analyzer, owned by the sink's thread.
struct Consumer {
    writer: TraceWriter<TraceOut>,
    analyzer: Analyzer,
    /// The first write error; later records are still analysed, none is written.
    error: Option<TraceError>,
}

impl Consumer {
    fn take(&mut self, batch: &mut Batch) {
        let mut start = 0;
        for &end in &batch.steps {
            let step = &mut batch.records[start..end];
            // Hosts run one after another within a step, each on its own sub-step clock: a
            // stable sort puts the step in time order and keeps ties in recording order.
            step.sort_by_key(|r| r.t_ns);
            for record in step.iter() {
                self.analyzer.observe(record);
                if self.error.is_none()
                    && let Err(e) = self.writer.write(record)
                {
                    self.error = Some(e);
                }
            }
            start = end;
        }
        debug_assert_eq!(start, batch.records.len(), "a batch holds whole steps");
        batch.records.clear();
        batch.steps.clear();
    }

    fn finish(self) -> Result<Finished, TraceError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let records = self.writer.records();
        let (hash, mut out) = self.writer.finish()?;
        out.flush()?;
        Ok((self.analyzer.finish(hash, records), hash, records))
    }
}

impl Sink {
    /// Writes the trace's header to `out` and starts the sink's thread.
    pub(crate) fn start(out: TraceOut, header: &Header) -> Result<Self, TraceError> {
        let mut consumer =
            Consumer { writer: TraceWriter::new(out, header)?, analyzer: Analyzer::new(header), error: None };
        let (batches, incoming) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        let (give_back, empties) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("faultline-trace".into())
            .spawn(move || {
                for mut batch in incoming {
                    consumer.take(&mut batch);
                    // The recorder may be gone already (it stops taking empties at the end).
                    let _ = give_back.send(batch);
                }
                consumer.finish()
            })
            .map_err(TraceError::Io)?;
        Ok(Self { batches: Some(batches), empties, worker: Some(worker) })
    }

    /// Hands `batch` (whole steps, after every step handed before) to the sink and returns an
    /// empty one to fill next.
    pub(crate) fn send(&mut self, batch: Batch) -> Batch {
        if let Some(tx) = &self.batches
            && tx.send(batch).is_err()
        {
            // The sink's thread is gone (it panicked): `finish` reports it.
            self.batches = None;
        }
        self.empties.try_recv().unwrap_or_else(|_| Batch::with_capacity(BATCH_RECORDS))
    }

    /// Hands the sink its `last` batch, waits for it to write and analyse everything, and
    /// returns the report.
    pub(crate) fn finish(mut self, last: Batch) -> Result<Finished, TraceError> {
        if let Some(tx) = self.batches.take() {
            // A send fails only if the sink's thread is gone; joining it below says why.
            let _ = tx.send(last);
        }
        let worker = self.worker.take().expect("a sink finishes once");
        match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // A world dropped before the end (a replay that stops early) stops the thread too.
        self.batches = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_chaos::trace::{Event, HostInfo, Op, Outcome};
    use std::io;
    use std::sync::{Arc, Mutex};

    fn header() -> Header {
        let host = |name: &str| HostInfo { name: name.into(), service: name.into(), group: "g".into() };
        Header {
            tool_version: "test".into(),
            rand_version: "0.9".into(),
            scenario: "sink".into(),
            seed: 3,
            duration_ns: 1_000_000_000,
            window_ns: 100_000_000,
            hosts: vec![host("lg0"), host("app")],
            links: Vec::new(),
            slos: Vec::new(),
            checks: Default::default(),
            shards: Default::default(),
            regions: Vec::new(),
            sample_ns: 0,
        }
    }

    /// `records` as one step per record: already in time order.
    fn steps(records: &[Record]) -> Batch {
        let mut batch = Batch::default();
        for r in records {
            batch.records.push(r.clone());
            batch.end_step();
        }
        batch
    }

    /// `n` requests, each invoked and completed 2 ms later, then the end.
    fn records(n: u64) -> Vec<Record> {
        let mut out = Vec::new();
        for req in 0..n {
            let t_ns = req * 100_000;
            let invoke = Event::Invoke { req, user: 0, client: 0, service: 1, op: Op::Read, key: req % 7 };
            out.push(Record { t_ns, event: invoke });
            out.push(Record { t_ns: t_ns + 2_000_000, event: Event::Complete { req, outcome: Outcome::Ok } });
        }
        out.sort_by_key(|r| r.t_ns);
        let end = out.last().map_or(0, |r| r.t_ns);
        out.push(Record { t_ns: end, event: Event::End });
        out
    }

    /// A writer whose bytes the test can read after the sink's thread is done with it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Accepts `left` bytes, then fails every write.
    struct Failing {
        left: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.left {
                return Err(io::Error::other("disk full"));
            }
            self.left -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn batches_give_the_trace_a_writer_on_this_thread_gives() {
        let records = records(20_000);
        let mut direct = TraceWriter::new(Vec::new(), &header()).expect("header");
        for r in &records {
            direct.write(r).expect("in order");
        }
        let direct_records = direct.records();
        let (direct_hash, direct_bytes) = direct.finish().expect("finish");

        let out = Shared::default();
        let mut sink = Sink::start(Box::new(out.clone()), &header()).expect("start");
        // Uneven batches, one of them empty, as the recorder's steps make them.
        let mut rest = records.as_slice();
        for size in [1, 0, 4095, 8192, 3].into_iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, tail) = rest.split_at(size.min(rest.len()));
            let empty = sink.send(steps(batch));
            assert!(empty.is_empty() && empty.steps.is_empty(), "a batch handed back is empty");
            rest = tail;
        }
        let (report, hash, count) = sink.finish(Batch::default()).expect("the sink finishes");
        assert_eq!(hash, direct_hash);
        assert_eq!(count, direct_records);
        assert_eq!(*out.0.lock().expect("not poisoned"), direct_bytes, "byte for byte the same trace");
        assert_eq!(report.end_to_end.ok, 20_000, "the analyzer saw every request");
    }

    #[test]
    fn each_step_is_put_in_time_order_with_ties_in_recording_order() {
        // Two steps, each recorded host after host: times go back within a step.
        let at = |t_ns: u64, req: u64| Record { t_ns, event: Event::Complete { req, outcome: Outcome::Ok } };
        let mut batch = Batch::default();
        batch.records.extend([at(30, 1), at(10, 2), at(30, 3), at(20, 4)]);
        batch.end_step();
        batch.end_step(); // an empty step adds no boundary
        batch.records.extend([at(50, 5), at(40, 6)]);
        batch.end_step();
        assert_eq!(batch.steps, vec![4, 6]);

        let out = Shared::default();
        let mut sink = Sink::start(Box::new(out.clone()), &header()).expect("start");
        sink.send(batch);
        sink.finish(Batch::default()).expect("the sink finishes");

        let mut sorted = TraceWriter::new(Vec::new(), &header()).expect("header");
        for r in [at(10, 2), at(20, 4), at(30, 1), at(30, 3), at(40, 6), at(50, 5)] {
            sorted.write(&r).expect("in order");
        }
        let (_, expected) = sorted.finish().expect("finish");
        assert_eq!(*out.0.lock().expect("not poisoned"), expected);
    }

    #[test]
    fn a_write_error_is_reported_at_the_end() {
        let mut sink = Sink::start(Box::new(Failing { left: 4096 }), &header()).expect("the header fits");
        for chunk in records(50_000).chunks(BATCH_RECORDS) {
            sink.send(steps(chunk));
        }
        match sink.finish(Batch::default()) {
            Err(TraceError::Io(e)) => assert_eq!(e.to_string(), "disk full"),
            other => panic!("expected the write error, got {:?}", other.map(|(_, hash, n)| (hash, n))),
        }
    }

    #[test]
    fn a_sink_dropped_before_the_end_stops_its_thread() {
        let mut sink = Sink::start(Box::new(io::sink()), &header()).expect("start");
        sink.send(steps(&records(10)));
        drop(sink); // joins the thread: a hang here fails the test by its timeout
    }
}
