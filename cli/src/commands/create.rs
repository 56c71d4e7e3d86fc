//! `create`: set up a container whose process waits for `start`.

use anyhow::Result;
use rbox_runtime::{ContainerId, CreateOptions};

use crate::runtime_cli::{CreateFlags, Ctx};

/// Maps the flags to library options.
pub fn options(f: &CreateFlags) -> CreateOptions {
    let mut o = CreateOptions::new(&f.bundle);
    o.pid_file = f.pid_file.clone();
    o.console_socket = f.console_socket.clone();
    o.no_pivot = f.no_pivot;
    o.no_new_keyring = f.no_new_keyring;
    o.preserve_fds = f.preserve_fds;
    o
}

/// Runs `create`.
pub fn run(ctx: &Ctx, f: &CreateFlags, id: &str) -> Result<()> {
    let id = ContainerId::new(id)?;
    ctx.runtime.create(&id, &options(f))?;
    Ok(())
}
