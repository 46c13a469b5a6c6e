//! The subcommands. Each file holds a command's clap arguments and its `run`,
//! which calls the library and prints.

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
