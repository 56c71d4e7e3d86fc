//! `state`: runc's state JSON.

use anyhow::Result;

use crate::runtime_cli::Ctx;

/// Runs `state`.
pub fn run(ctx: &Ctx, id: &str) -> Result<()> {
    super::print_json(&super::load(ctx, id)?.runc_state_json())
}
