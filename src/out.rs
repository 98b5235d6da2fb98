//! Standard output for the commands. `println!` panics when the reader has gone away
//! (`faultline run ... | head`); [`outln!`] and [`out!`] instead stop writing quietly once
//! standard output is closed, so the command ends as it would have, with its own exit code.
//! Another write error is said once on standard error, and output stops there too.
//!
//! Owns: writing the commands' results to standard output. Must not: decide what to print.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to standard output failed: nothing more is written.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to standard output, then a newline when `newline`; once it failed, nothing.
pub fn write(args: fmt::Arguments<'_>, newline: bool) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| if newline { stdout.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = written {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("faultline: cannot write to standard output: {e}");
        }
    }
}

/// `println!` that stops quietly when standard output is closed.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), true)
    };
}

/// `print!` that stops quietly when standard output is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), false)
    };
}
