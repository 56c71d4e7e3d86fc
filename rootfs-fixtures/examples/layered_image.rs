//! Writes a multi-layer image into an rbox data root: one gzip layer per
//! directory, packed by rbox-image, kept compressed (a docker-archive
//! would carry them uncompressed). Used by bench/registry.
//!
//!     layered_image DATA_ROOT NAME DIR...

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.len() < 3 {
        eprintln!("usage: layered_image DATA_ROOT NAME DIR...");
        return ExitCode::from(2);
    }
    let name = args[1].to_string_lossy().into_owned();
    let dirs: Vec<&Path> = args[2..].iter().map(PathBuf::as_path).collect();
    let made = rbox_image::Store::open(&args[0])
        .map_err(rbox_fixtures::FixtureError::from)
        .and_then(|store| rbox_fixtures::layered_image(&store, &name, &dirs));
    match made {
        Ok(d) => {
            println!("{}", d.digest);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("layered_image: {e}");
            ExitCode::from(1)
        }
    }
}
