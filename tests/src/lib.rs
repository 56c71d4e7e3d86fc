#![doc = include_str!("../README.md")]
//!
//! This crate may print (the `SKIP` lines, cleanup warnings) because it
//! only ever runs inside tests.

mod cgroup;
mod child;
pub mod distribution;
pub mod fake_registry;
mod id;
pub mod mountinfo;
mod netns;
mod require;
mod sys;
mod temp;

pub use cgroup::{CGROUP_TEST_ROOT, CgroupGuard};
pub use child::ChildGuard;
pub use id::unique_id;
pub use netns::NetnsGuard;
pub use nix::sched::CloneFlags;
pub use require::{
    REQUIRE_PRIVILEGED_ENV, can_unshare, have_cgroup_v1_controller, have_command, is_root,
    privileged_required, require, require_root,
};
pub use temp::TempRoot;
