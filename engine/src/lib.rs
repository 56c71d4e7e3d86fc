#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod attach;
pub mod copy;
mod engine;
pub mod error;
pub mod inspect;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod network;
pub mod options;
pub mod record;
pub mod rootfs;
pub mod spec;
pub mod stats;
pub mod sys;
pub mod time;
pub mod volume;

pub use engine::{Engine, Puller, signal, wait_started};
pub use error::{Error, Result};
pub use options::{LogOptions, RestartPolicy, RunOptions};
pub use record::{Record, Status};

/// "a: b: c" from an error and its sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
