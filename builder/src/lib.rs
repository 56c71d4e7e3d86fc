#![doc = include_str!("../README.md")]

pub mod expand;

pub use expand::{ExpandError, Expanded, Lexer, Vars};
