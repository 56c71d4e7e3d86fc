//! Registry credentials: docker's config.json, credential helpers, and
//! native ECR authentication (SigV4-signed `GetAuthorizationToken` with
//! the AWS SDKs' credential chain).
//!
//! [`CredentialStore`] is the [`CredentialSource`](crate::credential::CredentialSource)
//! the client uses. Per registry it tries, in order: the `credHelpers`
//! entry (with `ecr-login` answered natively), the ECR host pattern,
//! `credsStore`, then `auths`; nothing found means anonymous access.
//! Everything reads its environment from an [`Env`] snapshot so callers
//! and tests decide what `HOME`, `PATH` and `AWS_*` are.

pub mod aws_credentials;
mod aws_http;
mod base64;
pub mod docker_config;
pub mod ecr;
mod ecr_cache;
mod env;
mod error;
pub mod helper;
pub mod sigv4;
mod store;
mod time;

#[cfg(test)]
pub(crate) mod test_server;

pub use aws_credentials::{AwsCredentials, CredentialChain};
pub use docker_config::{AuthFile, DockerConfig};
pub use ecr::{EcrAuth, EcrHost};
pub use env::Env;
pub use error::AuthError;
pub use helper::CredentialHelper;
pub use store::{CredentialStore, ECR_LOGIN_HELPER, Stored};
