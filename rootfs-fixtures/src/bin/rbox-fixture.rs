//! `rbox-fixture`: the fixtures of `rbox-fixtures` for shell scripts.

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "\
usage: rbox-fixture busybox-bundle DIR [-- ARGS...]   write DIR/rootfs and DIR/config.json, print the config path
       rbox-fixture busybox-rootfs DIR                build a busybox rootfs at DIR, print DIR
       rbox-fixture cached-rootfs                     print the shared cached rootfs path
       rbox-fixture busybox-archive FILE [NAME]       write the busybox image (default name busybox) as a docker-archive tar";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let result = match argv.as_slice() {
        ["busybox-bundle", dir, rest @ ..] => {
            let args = match rest {
                [] => &[][..],
                ["--", args @ ..] => args,
                _ => return usage(),
            };
            rbox_fixtures::busybox_bundle(Path::new(dir), args)
        }
        ["busybox-rootfs", dir] => {
            rbox_fixtures::busybox_rootfs(Path::new(dir)).map(|()| dir.into())
        }
        ["cached-rootfs"] => rbox_fixtures::cached_busybox_rootfs(),
        ["busybox-archive", file, rest @ ..] if rest.len() <= 1 => {
            let name = rest.first().copied().unwrap_or("busybox");
            let scratch = std::env::temp_dir().join(format!("rbox-fixture-{}", std::process::id()));
            let r = rbox_fixtures::busybox_archive(Path::new(file), name, &scratch)
                .map(|()| file.into());
            let _ = std::fs::remove_dir_all(&scratch);
            r
        }
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage(),
    };
    match result {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut msg = format!("rbox-fixture: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
