#![doc = include_str!("../README.md")]

pub mod args;
pub mod build;
pub mod config;
pub mod dockerignore;
pub mod error;
pub mod exec;
pub mod expand;
pub mod instructions;
pub mod parser;
pub mod plan;
pub mod stages;

#[cfg(test)]
mod fuzz;

pub use args::{BuildArgs, Platform};
pub use dockerignore::Matcher;
pub use error::{Error, Location, Result, SyntaxError};
pub use expand::{ExpandError, Expanded, Lexer, Vars};
pub use instructions::{Instruction, ShellOrExec, Step};
pub use parser::{Dockerfile, Keyword, Node, parse, parse_str};
pub use plan::{BuildOptions, Plan, plan};
pub use stages::Stages;
