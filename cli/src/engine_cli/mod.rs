//! Docker-style engine commands (`rbox network ...`, `rbox volume ...`):
//! argument parsing and output only; the work is in rbox-engine.

pub mod network;
pub mod volume;

use std::process::ExitCode;

/// Prints an engine command's error chain and maps it to exit status 1.
pub fn exit(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rbox: {e:#}");
            ExitCode::from(1)
        }
    }
}
