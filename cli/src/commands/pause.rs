//! `pause` and `resume`: freeze and thaw through the cgroup freezer.

use anyhow::Result;

use crate::runtime_cli::Ctx;

/// Runs `pause`.
pub fn pause(ctx: &Ctx, id: &str) -> Result<()> {
    super::load(ctx, id)?.pause()?;
    Ok(())
}

/// Runs `resume`.
pub fn resume(ctx: &Ctx, id: &str) -> Result<()> {
    super::load(ctx, id)?.resume()?;
    Ok(())
}
