//! `rbox cp`: files between containers and the host, docker's syntax
//! (`CONTAINER:PATH`, `-` for a tar stream on stdin or stdout).

use std::path::Path;

use anyhow::{Result, bail};
use clap::Args;
use rbox_engine::Engine;
use rbox_engine::copy::CopyOptions;

/// docker cp's flags.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode: keep the owners (uid/gid) of the source.
    #[arg(short, long)]
    archive: bool,
    /// Follow a symlink given as the source.
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// CONTAINER:SRC, a host path, or - (a tar on stdin).
    src: String,
    /// CONTAINER:DEST, a host path, or - (a tar on stdout).
    dest: String,
}

/// `CONTAINER:PATH` as docker splits it: a local path that holds a colon
/// starts with `/` or `.`.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// Runs `cp`.
pub fn run(engine: &Engine, a: &CpArgs) -> Result<u8> {
    let opts = CopyOptions::new(a.archive, a.follow_link);
    match (split(&a.src), split(&a.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("one of the paths must be CONTAINER:PATH"),
        (Some((c, p)), None) => {
            let id = engine.resolve(c)?;
            let p = if p.is_empty() { "/" } else { p };
            if a.dest == "-" {
                engine.copy_out_tar(&id, p, std::io::stdout().lock(), &opts)?;
            } else {
                engine.copy_out(&id, p, Path::new(&a.dest), &opts)?;
            }
        }
        (None, Some((c, p))) => {
            let id = engine.resolve(c)?;
            let p = if p.is_empty() { "/" } else { p };
            if a.src == "-" {
                engine.copy_in_tar(&id, std::io::stdin(), p, &opts)?;
            } else {
                engine.copy_in(&id, Path::new(&a.src), p, &opts)?;
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(split("web:/etc"), Some(("web", "/etc")));
        assert_eq!(split("./a:b"), None);
        assert_eq!(split("/tmp/a:b"), None);
        assert_eq!(split("dir/a:b"), None);
        assert_eq!(split("-"), None);
        assert_eq!(split("c:"), Some(("c", "")));
    }
}
