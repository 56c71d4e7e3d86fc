//! Unpacks a layer file into a directory and prints what it read.
//!
//! ```text
//! cargo run --release -p rbox-image --example unpack -- LAYER TARGET [--overlay] [--sync]
//! ```
//!
//! TARGET is created if missing. Used by `bench/unpack/run.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

use rbox_image::layer::{UnpackOptions, Whiteouts, unpack_file};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (flags, paths): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| a.starts_with("--"));
    let [layer, target] = paths.as_slice() else {
        eprintln!("usage: unpack LAYER TARGET [--overlay] [--sync]");
        return ExitCode::from(2);
    };
    let mut options = UnpackOptions::default();
    for f in flags {
        match f.as_str() {
            "--overlay" => options.whiteouts = Whiteouts::Overlay,
            "--sync" => options.sync = true,
            other => {
                eprintln!("unpack: unknown flag {other}");
                return ExitCode::from(2);
            }
        }
    }
    let target = PathBuf::from(target);
    if let Err(e) = std::fs::create_dir_all(&target) {
        eprintln!("unpack: create {}: {e}", target.display());
        return ExitCode::FAILURE;
    }
    match unpack_file(layer.as_ref(), &target, &options) {
        Ok(l) => {
            println!(
                "digest={} diff_id={} size={} compression={:?} entries={}",
                l.digest, l.diff_id, l.size, l.compression, l.entries
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("unpack: {msg}");
            ExitCode::FAILURE
        }
    }
}
