#![doc = include_str!("../README.md")]

pub mod archive;
pub mod digest;
pub mod error;
pub mod layer;
pub mod manifest;
pub mod reference;
pub mod store;
mod sys;

pub use digest::{Algorithm, Digest};
pub use error::{DigestError, Error, ReferenceError, Result};
pub use reference::{AnyReference, Reference};
pub use store::Store;
