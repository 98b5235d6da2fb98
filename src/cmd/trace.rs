//! `faultline trace dump`: a binary trace as text or JSON lines.

use super::fail;
use crate::cli::Format;
use crate::exit::Exit;
use faultline_chaos::trace::codec::TraceReader;
use faultline_chaos::trace::text;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

pub fn dump(file: &Path, format: Format) -> Exit {
    let f = match File::open(file) {
        Ok(f) => f,
        Err(e) => return fail(&format!("cannot open {}", file.display()), e),
    };
    let mut reader = match TraceReader::new(BufReader::new(f)) {
        Ok(r) => r,
        Err(e) => return fail(&format!("{} is not a readable trace", file.display()), e),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let header = reader.header().clone();
    let first = match format {
        Format::Text => format!(
            "# scenario {:?} seed {} hosts {}",
            header.scenario,
            header.seed,
            header.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(",")
        ),
        Format::Json => text::header_json(&header).to_string(),
    };
    if writeln!(out, "{first}").is_err() {
        return Exit::Pass; // stdout closed (e.g. piped into head): nothing more to do.
    }
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                let line = match format {
                    Format::Text => text::to_text(&header, &record),
                    Format::Json => text::to_json(&header, &record).to_string(),
                };
                if writeln!(out, "{line}").is_err() {
                    return Exit::Pass;
                }
            }
            Ok(None) => return Exit::Pass,
            Err(e) => {
                let _ = out.flush();
                return fail(&format!("{} is damaged", file.display()), e);
            }
        }
    }
}
