#![doc = include_str!("../README.md")]

pub mod error;
pub mod options;
pub mod spec;

pub use error::{Error, Result};
pub use options::{LogOptions, RestartPolicy, RunOptions};
