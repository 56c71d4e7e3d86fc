//! One module per runtime subcommand.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use anyhow::{Context, Result};
use rbox_runtime::{Container, ContainerId};

use crate::runtime_cli::{Ctx, RuntimeCommand};

/// Runs one command; returns the process exit code.
pub fn dispatch(ctx: &Ctx, cmd: RuntimeCommand) -> Result<u8> {
    use RuntimeCommand as C;
    match cmd {
        C::Create { flags, id } => create::run(ctx, &flags, &id).map(|()| 0),
        C::Start { id } => start::run(ctx, &id).map(|()| 0),
        C::Run {
            flags,
            detach,
            keep,
            id,
            no_subreaper: _,
        } => run::run(ctx, &flags, detach, keep, &id),
        C::State { id } => state::run(ctx, &id).map(|()| 0),
        C::Kill { all, id, signal } => kill::run(ctx, &id, &signal, all).map(|()| 0),
        C::Delete { force, id } => delete::run(ctx, &id, force).map(|()| 0),
        C::Exec(a) => exec::run(ctx, a),
        C::Ps {
            format,
            id,
            ps_args,
        } => ps::run(ctx, &id, &format, &ps_args).map(|()| 0),
        C::Pause { id } => pause::pause(ctx, &id).map(|()| 0),
        C::Resume { id } => pause::resume(ctx, &id).map(|()| 0),
        C::Events(a) => events::run(ctx, &a).map(|()| 0),
        C::Update(a) => update::run(ctx, &a).map(|()| 0),
        C::Features => features::run().map(|()| 0),
        C::Spec { bundle, rootless } => spec::run(&bundle, rootless).map(|()| 0),
        C::List { format, quiet } => list::run(ctx, &format, quiet).map(|()| 0),
    }
}

/// Validates an id and loads its container.
pub fn load(ctx: &Ctx, id: &str) -> Result<Container> {
    let id = ContainerId::new(id)?;
    Ok(ctx.runtime.load(&id)?)
}

/// Prints JSON the way runc does (two-space indent).
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let s = serde_json::to_string_pretty(v).context("encoding JSON")?;
    println!("{s}");
    Ok(())
}
