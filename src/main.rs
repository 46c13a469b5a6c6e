//! The `mkaci` command line. The work lives in the library; this file parses
//! arguments and reports errors.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mkaci", version, about = "Build, inspect, sign and verify App Container Images from Nix closures")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build an image: the builder of mkACI derivations (or --attrs FILE --out DIR).
    Build(mkaci::build::BuildArgs),
    /// Sign a result's images with gpg and link them into DIR (run by result/postprocess.sh)
    Postprocess(mkaci::postprocess::PostprocessArgs),
    /// Check a published image: its signature, layout, manifest and image ID
    Verify(mkaci::verify::VerifyArgs),
    /// Print an image's manifest, ID and sizes; check its layout.
    Inspect(mkaci::inspect::InspectArgs),
}

fn main() -> ExitCode {
    // A panic is a bug; say so in one line instead of printing a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("mkaci: internal error: {info}. Please report this as a bug.");
    }));
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Build(args) => mkaci::build::run(args),
        Cmd::Postprocess(args) => mkaci::postprocess::run(args),
        Cmd::Verify(args) => mkaci::verify::run(args),
        Cmd::Inspect(args) => mkaci::inspect::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkaci: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
