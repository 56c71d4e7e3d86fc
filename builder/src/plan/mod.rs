//! Dockerfile + target + build args -> the stages to build, each with its
//! steps fully expanded and the material its cache key is made of.
//!
//! The planner walks every stage in order (later stages may inherit ENV
//! and config from earlier ones), keeping the ARG/ENV scope and the image
//! config as BuildKit's dispatcher does, then keeps the stages the target
//! needs. It does no I/O: base image configs (their ENV, CMD, ONBUILD...)
//! are handed in by the caller, which pulls them first.
//!
//! Cache-key material is the expanded instruction plus the variables that
//! affect it: for RUN the whole environment the command sees (ENV and
//! declared ARGs, proxy ARGs excluded so a proxy change never busts the
//! cache), for other steps the variables their expansion used. The
//! executor chains it with the parent's key and, for COPY/ADD, the content
//! digests of the sources.

mod step;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use crate::args::{BuildArgs, Platform, is_proxy_arg, platform_args};
use crate::checks::{Check, CheckConfig};
use crate::config::CommandConfig;
use crate::error::{Location, Result};
use crate::expand::Lexer;
use crate::instructions::{
    Healthcheck, Instruction, MountSpec, MountType, NetworkMode, Step, parse_all,
};
use crate::parser::{Dockerfile, node_from_line};
use crate::stages::{Base, Source, Stages};

/// What a build asks for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildOptions {
    /// `--target`; the last stage when `None`.
    pub target: Option<String>,
    /// `--build-arg`s.
    pub build_args: BuildArgs,
    /// The platform the build runs on (BUILDPLATFORM).
    pub build_platform: Platform,
    /// The platform built for (TARGETPLATFORM).
    pub target_platform: Platform,
    /// Configs of the base images, by the reference as written after
    /// expansion (`golang:1.22`). A base missing here starts empty.
    pub base_configs: BTreeMap<String, ConfigState>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            target: None,
            build_args: BuildArgs::default(),
            build_platform: Platform::host(),
            target_platform: Platform::host(),
            base_configs: BTreeMap::new(),
        }
    }
}

impl BuildOptions {
    /// Options for a build on `build_platform` producing `target_platform`.
    pub fn new(build_platform: Platform, target_platform: Platform) -> Self {
        Self {
            build_platform,
            target_platform,
            ..Self::default()
        }
    }

    /// Builds stage `name` instead of the last one.
    pub fn with_target(mut self, name: impl Into<String>) -> Self {
        self.target = Some(name.into());
        self
    }

    /// Sets the `--build-arg` values.
    pub fn with_build_args(mut self, args: BuildArgs) -> Self {
        self.build_args = args;
        self
    }

    /// Gives the config of base image `reference` (as written in FROM,
    /// after expansion).
    pub fn with_base_config(mut self, reference: impl Into<String>, config: ConfigState) -> Self {
        self.base_configs.insert(reference.into(), config);
        self
    }
}

/// The parts of an image config a Dockerfile sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigState {
    /// `Env`, in order.
    pub env: Vec<(String, String)>,
    /// `WorkingDir` (empty: unset, i.e. `/`).
    pub workdir: String,
    /// `User`.
    pub user: String,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
    /// `ExposedPorts` (`80/tcp`).
    pub exposed_ports: BTreeSet<String>,
    /// `Volumes`.
    pub volumes: BTreeSet<String>,
    /// `StopSignal`.
    pub stop_signal: Option<String>,
    /// `Healthcheck`.
    pub healthcheck: Option<Healthcheck>,
    /// `Entrypoint`, `Cmd`, `Shell`.
    pub command: CommandConfig,
    /// `OnBuild` triggers, as text.
    pub onbuild: Vec<String>,
    /// `author` (MAINTAINER).
    pub author: Option<String>,
}

/// A source of a COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path (or URL, or git address for ADD) as expanded.
    Path(String),
    /// A heredoc body, expanded unless its delimiter was quoted.
    Inline {
        /// The delimiter name (the file name COPY gives it).
        name: String,
        /// The body.
        content: String,
    },
}

/// A file a RUN needs in place (read-only) while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunFile {
    /// Absolute path in the container.
    pub path: String,
    /// Content.
    pub content: String,
    /// File mode.
    pub mode: u32,
}

/// A step with everything expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Run a command in the stage's filesystem.
    Run {
        /// argv (shell form already wrapped in SHELL).
        argv: Vec<String>,
        /// The environment: ENV and ARGs as assigned, then proxy build-args.
        env: Vec<(String, String)>,
        /// Mounts, values expanded.
        mounts: Vec<MountSpec>,
        /// Network mode.
        network: NetworkMode,
        /// `--security`.
        security: Option<String>,
        /// Files to mount read-only before running (a heredoc script with
        /// a `#!` line runs as `/dev/pipes/NAME`).
        files: Vec<RunFile>,
        /// Working directory.
        workdir: String,
        /// User.
        user: String,
    },
    /// COPY or ADD.
    Copy {
        /// True for ADD (URLs, archives unpacked, git).
        add: bool,
        /// Sources.
        sources: Vec<CopySource>,
        /// Destination, resolved against WORKDIR when relative.
        dest: String,
        /// Where sources come from: the context when `None`.
        from: Option<Source>,
        /// `--chown`.
        chown: Option<String>,
        /// `--chmod`, as given (octal checked).
        chmod: Option<String>,
        /// `--link`.
        link: bool,
        /// `--parents`.
        parents: bool,
        /// `--exclude`.
        exclude: Vec<String>,
        /// `--checksum`.
        checksum: Option<String>,
        /// `--keep-git-dir`.
        keep_git_dir: bool,
    },
    /// WORKDIR: creates the directory, then sets the config.
    Workdir(String),
    /// A config-only change (ENV, LABEL, CMD, ...); the new config is in
    /// the stage's [`StagePlan::config`] and in the key material.
    Config,
}

/// One planned step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedStep {
    /// Where the instruction is.
    pub location: Location,
    /// The instruction as written.
    pub original: String,
    /// What to do.
    pub op: Op,
    /// Cache-key material.
    pub key: KeyMaterial,
}

/// What a step's cache key is computed from (besides the parent's key and
/// source contents).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyMaterial {
    /// The expanded instruction in a canonical form.
    pub text: String,
    /// Variables that affect the step, with their values.
    pub vars: BTreeMap<String, String>,
}

impl KeyMaterial {
    /// A stable serialization to hash: the text, then `name=value` lines,
    /// each NUL-terminated (NUL cannot occur in a Dockerfile value).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 64);
        out.extend_from_slice(self.text.as_bytes());
        out.push(0);
        for (k, v) in &self.vars {
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }
}

/// The plan of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StagePlan {
    /// Stage index.
    pub index: usize,
    /// Stage name.
    pub name: Option<String>,
    /// What it starts from.
    pub base: Base,
    /// `FROM --platform`, expanded.
    pub platform: Option<String>,
    /// Stages it needs (base and `--from`s).
    pub deps: BTreeSet<usize>,
    /// Steps, base ONBUILD triggers first.
    pub steps: Vec<PlannedStep>,
    /// The config at the end of the stage.
    pub config: ConfigState,
    /// Build-check findings that need the build's variables
    /// (UndefinedVar), honouring `# check=`.
    pub checks: Vec<Check>,
}

/// A build plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// The escape token of the Dockerfile.
    pub escape: char,
    /// The target stage's index.
    pub target: usize,
    /// The stages the target needs, in a valid build order.
    pub stages: Vec<StagePlan>,
    /// Stage indexes grouped so each group only needs earlier groups.
    pub waves: Vec<Vec<usize>>,
    /// `--build-arg`s no ARG of these stages declared (BuildKit warns).
    pub unused_build_args: Vec<String>,
}

impl Plan {
    /// The plan of stage `index`, if the target needs it.
    pub fn stage(&self, index: usize) -> Option<&StagePlan> {
        self.stages.iter().find(|s| s.index == index)
    }

    /// What the build reads from the context: COPY/ADD sources without
    /// `--from` (ADD URLs and git addresses left out) and the sources of
    /// RUN bind mounts without `from` (`.` when none is given). Paths as
    /// expanded, in plan order, without repeats; a caller sending or
    /// hashing the context can start from these.
    pub fn context_sources(&self) -> Vec<&str> {
        fn push<'a>(out: &mut Vec<&'a str>, s: &'a str) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        let mut out = Vec::new();
        for step in self.stages.iter().flat_map(|s| &s.steps) {
            match &step.op {
                Op::Copy {
                    from: None,
                    sources,
                    add,
                    ..
                } => {
                    for source in sources {
                        if let CopySource::Path(p) = source
                            && !(*add && is_remote(p))
                        {
                            push(&mut out, p);
                        }
                    }
                }
                Op::Run { mounts, .. } => {
                    for m in mounts {
                        if m.kind == MountType::Bind && m.from.as_deref().is_none_or(str::is_empty)
                        {
                            push(&mut out, m.source.as_deref().unwrap_or("."));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// An ADD source fetched from the network rather than the context.
fn is_remote(source: &str) -> bool {
    ["http://", "https://", "git@", "git://"]
        .iter()
        .any(|p| source.starts_with(p))
        || source.ends_with(".git") && source.contains("://")
}

/// Plans a parsed Dockerfile.
pub fn plan(dockerfile: &Dockerfile, options: &BuildOptions) -> Result<Plan> {
    let lexer = Lexer::new(dockerfile.directives.escape);
    let stages = Stages::split(parse_all(dockerfile)?)?;
    let target = stages.target(options.target.as_deref())?;
    let predefined = platform_args(&options.build_platform, &options.target_platform);
    let globals = stages.global_vars(&lexer, &options.build_args, &predefined)?;
    let check_config = CheckConfig::from_directives(&dockerfile.directives);
    let mut planned: Vec<StagePlan> = Vec::with_capacity(stages.stages.len());
    for index in 0..stages.stages.len() {
        let stage_plan = step::plan_stage(
            &stages,
            index,
            &planned,
            &lexer,
            &globals,
            options,
            &check_config,
        )?;
        planned.push(stage_plan);
    }
    let graph = crate::stages::Graph {
        bases: planned.iter().map(|s| s.base.clone()).collect(),
        deps: planned.iter().map(|s| s.deps.clone()).collect(),
        images: vec![BTreeSet::new(); planned.len()],
    };
    let needed = graph.needed(target);
    let waves = graph.waves(&needed);

    let mut declared: BTreeSet<String> = BTreeSet::new();
    let arg_names = |steps: &[Step], declared: &mut BTreeSet<String>| {
        for step in steps {
            if let Instruction::Arg(list) = &step.instruction {
                declared.extend(list.iter().map(|(name, _)| name.clone()));
            }
        }
    };
    arg_names(&stages.global_args, &mut declared);
    for &i in &needed {
        // ONBUILD ARGs from a base are rare enough to ignore here.
        arg_names(&stages.stages[i].steps, &mut declared);
    }
    let predefined_names: BTreeSet<&str> = predefined.iter().map(|(k, _)| k.as_str()).collect();
    let unused_build_args = options
        .build_args
        .names()
        .filter(|n| !declared.contains(*n) && !is_proxy_arg(n) && !predefined_names.contains(n))
        .map(str::to_owned)
        .collect();

    let mut keep = planned;
    let needed_set: BTreeSet<usize> = needed.iter().copied().collect();
    keep.retain(|s| needed_set.contains(&s.index));
    Ok(Plan {
        escape: dockerfile.directives.escape,
        target,
        stages: keep,
        waves,
        unused_build_args,
    })
}

/// Parses base ONBUILD triggers into steps placed at the FROM line.
fn onbuild_steps(triggers: &[String], from: &Step, escape: char) -> Result<Vec<Step>> {
    triggers
        .iter()
        .map(|text| {
            let node = node_from_line(text, from.node.location)?;
            Ok(Step {
                instruction: Instruction::from_node(&node, escape)?,
                node,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
