#![doc = include_str!("../README.md")]

pub mod expand;
#[cfg(test)]
mod fuzz;
pub mod instructions;

pub use expand::{ExpandError, Expanded, Lexer, Vars};
pub use instructions::{Instruction, ShellOrExec, Step};
pub mod args;
pub mod config;
pub mod dockerignore;
pub mod error;
pub mod parser;
pub mod plan;
pub mod stages;

pub use error::{Error, Location, Result, SyntaxError};
pub use parser::{Dockerfile, Keyword, Node, parse, parse_str};
