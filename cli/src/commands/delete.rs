//! `delete`: remove a container (stopped, or any with --force).

use anyhow::Result;
use rbox_runtime::{ContainerId, Error};

use crate::runtime_cli::Ctx;

/// Runs `delete`. Deleting a container that does not exist succeeds with
/// --force, as in runc.
pub fn run(ctx: &Ctx, id: &str, force: bool) -> Result<()> {
    let cid = ContainerId::new(id)?;
    match ctx.runtime.load(&cid) {
        Ok(c) => Ok(c.delete(force)?),
        Err(Error::NotFound(_)) => {
            // A create killed half-way leaves a dir without state.json.
            if ctx.runtime.remove_stale(&cid)? || force {
                Ok(())
            } else {
                Err(Error::NotFound(id.to_string()).into())
            }
        }
        Err(e) => Err(e.into()),
    }
}
