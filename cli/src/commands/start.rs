//! `start`: let a created container's process run.

use anyhow::Result;

use crate::runtime_cli::Ctx;

/// Runs `start`.
pub fn run(ctx: &Ctx, id: &str) -> Result<()> {
    super::load(ctx, id)?.start()?;
    Ok(())
}
