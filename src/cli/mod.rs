//! The subcommands. Each file holds a command's clap arguments and its `run`,
//! which calls the library and prints.

/// `println!` that hands a failed write back as an error instead of
/// panicking: a closed stdout (`mkaci verify X | head -1`) becomes
/// [`StdoutClosed`], any other write error an `io::Error`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err($crate::cli::stdout_error)?
    }};
}

mod build;
mod inspect;
mod postprocess;
mod verify;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mkaci", version, about = "Build, inspect, sign and verify App Container Images from Nix closures")]
pub(crate) struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build an image: the builder of mkACI derivations (or --attrs FILE --out DIR).
    Build(build::BuildArgs),
    /// Sign a result's images with gpg and publish them into DIR (run by result/postprocess.sh)
    Postprocess(postprocess::PostprocessArgs),
    /// Check a published image: its signature, layout, manifest and image ID
    Verify(verify::VerifyArgs),
    /// Print an image's manifest, ID and sizes; check its layout.
    Inspect(inspect::InspectArgs),
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.cmd {
            Cmd::Build(args) => build::run(args),
            Cmd::Postprocess(args) => postprocess::run(args),
            Cmd::Verify(args) => verify::run(args),
            Cmd::Inspect(args) => inspect::run(args),
        }
    }
}

/// The reader of stdout has gone (`| head`, `| true`): the command stops
/// where it is, without a message, as `cat` does. `main` turns it into the
/// status a process killed by SIGPIPE has, so a pipeline's status (with
/// `set -o pipefail`) is what it would be for `cat`. SIGPIPE itself stays
/// ignored (Rust's default): postprocess writes to gpg's stdin, and a gpg
/// that exits early must give an error there, not kill a run half-way.
#[derive(Debug, thiserror::Error)]
#[error("stdout is closed")]
pub(crate) struct StdoutClosed;

/// The exit status of a process killed by SIGPIPE (128 + 13).
pub(crate) const SIGPIPE_STATUS: u8 = 141;

/// A write error on stdout as the error [`out!`] returns.
pub(crate) fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

/// The error for the user: each cause once. A cause whose text the message
/// already contains (errors that embed their source) is not repeated.
pub(crate) fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {source}")]
    struct Outer {
        source: Inner,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("inner reason")]
    struct Inner;

    #[test]
    fn each_cause_once() {
        let e = anyhow::Error::new(Outer { source: Inner });
        assert_eq!(report(&e), "outer: inner reason");
        let e = anyhow::Error::new(Inner).context("while building");
        assert_eq!(report(&e), "while building: inner reason");
    }
}
