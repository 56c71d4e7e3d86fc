//! The crate's error type. The protocol side adds its own variants; the
//! credential side reports through [`AuthError`].

use crate::auth::AuthError;

/// Everything that can go wrong in rbox-registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Finding or storing registry credentials failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
