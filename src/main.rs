//! The `mkaci` command line: argument parsing (clap) and error reporting
//! (anyhow) around the library, one file per command under `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A panic is a bug; say so in one line instead of printing a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("mkaci: internal error: {info}. Please report this as a bug.");
    }));
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        // Quiet, as `cat` is when its reader goes away.
        Err(e) if e.downcast_ref::<cli::StdoutClosed>().is_some() => ExitCode::from(cli::SIGPIPE_STATUS),
        Err(e) => {
            eprintln!("mkaci: error: {}", cli::report(&e));
            ExitCode::FAILURE
        }
    }
}
