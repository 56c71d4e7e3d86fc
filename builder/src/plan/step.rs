//! Planning one stage: expanding each instruction with the scope at its
//! point, updating the config, and recording cache-key material.

use std::collections::{BTreeMap, BTreeSet};

use super::values::{is_signal, join, port_spec, workdir_or_root};
use super::{
    BuildOptions, ConfigState, CopySource, KeyMaterial, Op, PlannedStep, RunFile, StagePlan,
    onbuild_steps,
};
use crate::args::{Scope, is_proxy_arg};
use crate::checks::{Check, CheckConfig};
use crate::config::CommandConfig;
use crate::error::{Result, SyntaxError};
use crate::expand::Lexer;
use crate::instructions::{CopySpec, Instruction, MountSpec, RunSpec, ShellOrExec, Step};
use crate::parser::{distance, sole_marker};
use crate::stages::{Base, Source, Stages, apply_scope, expand_error};

/// Expands words of one step against a snapshot of the scope, recording
/// which variables were used.
struct Expander<'a> {
    lexer: Lexer,
    vars: BTreeMap<String, String>,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
    step: &'a Step,
}

impl<'a> Expander<'a> {
    fn new(lexer: Lexer, scope: &Scope, step: &'a Step) -> Self {
        Self {
            lexer,
            vars: scope.vars(),
            used: BTreeSet::new(),
            unset: BTreeSet::new(),
            step,
        }
    }

    fn expand(&mut self, lexer: Lexer, word: &str) -> Result<crate::expand::Expanded> {
        let e = lexer
            .expand(word, &self.vars)
            .map_err(|e| expand_error(self.step, word, e))?;
        self.used.extend(e.used.iter().cloned());
        self.unset.extend(e.unset.iter().cloned());
        Ok(e)
    }

    fn word(&mut self, word: &str) -> Result<String> {
        Ok(self.expand(self.lexer, word)?.text)
    }

    fn words(&mut self, word: &str) -> Result<Vec<String>> {
        Ok(self.expand(self.lexer, word)?.words)
    }

    fn opt(&mut self, word: Option<&str>) -> Result<Option<String>> {
        word.map(|w| self.word(w)).transpose()
    }

    fn key(self, text: String) -> KeyMaterial {
        let vars = self
            .used
            .iter()
            .filter_map(|k| self.vars.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        KeyMaterial { text, vars }
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Serializing strings, vectors and maps of strings cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

pub(super) fn plan_stage(
    stages: &Stages,
    index: usize,
    planned: &[StagePlan],
    lexer: &Lexer,
    globals: &BTreeMap<String, String>,
    options: &BuildOptions,
    check_config: &CheckConfig,
) -> Result<StagePlan> {
    let stage = &stages.stages[index];
    let base = stages.resolve_base(index, lexer, globals)?;
    let platform = stage
        .from
        .platform
        .as_deref()
        .map(|p| {
            lexer
                .expand_word(p, globals)
                .map_err(|e| expand_error(&stage.from_step, p, e))
        })
        .transpose()?;
    let mut deps = BTreeSet::new();
    // Without the base image's config its ENV is unknown, and so is
    // whether a variable is really undefined.
    let known_base = match &base {
        Base::Image(reference) => options.base_configs.contains_key(reference),
        Base::Stage(_) | Base::Scratch => true,
    };
    let mut config = match &base {
        Base::Stage(i) => {
            deps.insert(*i);
            planned[*i].config.clone()
        }
        Base::Image(reference) => options
            .base_configs
            .get(reference)
            .cloned()
            .unwrap_or_default(),
        Base::Scratch => ConfigState::default(),
    };
    let c = &config.command;
    config.command = CommandConfig::inherit(c.entrypoint.clone(), c.cmd.clone(), c.shell.clone());
    // Triggers run in the child and are not passed on.
    let triggers = std::mem::take(&mut config.onbuild);
    let mut sources = onbuild_steps(&triggers, &stage.from_step, lexer.escape())?;
    sources.extend(stage.steps.iter().cloned());

    let mut walk = Walk {
        stages,
        index,
        lexer: *lexer,
        globals,
        options,
        deps,
        scope: Scope::with_env(config.env.clone()),
        config,
        report_undefined: known_base && check_config.enabled("UndefinedVar"),
        declared: BTreeSet::new(),
        checks: Vec::new(),
    };
    let mut steps = Vec::with_capacity(sources.len());
    for step in &sources {
        if let Some(planned) = walk.step(step)? {
            steps.push(planned);
        }
    }
    Ok(StagePlan {
        index,
        name: stage.name.clone(),
        base,
        platform,
        deps: walk.deps,
        steps,
        config: walk.config,
        checks: walk.checks,
    })
}

/// The state of one stage while its steps are planned.
struct Walk<'a> {
    stages: &'a Stages,
    index: usize,
    lexer: Lexer,
    globals: &'a BTreeMap<String, String>,
    options: &'a BuildOptions,
    deps: BTreeSet<usize>,
    scope: Scope,
    config: ConfigState,
    /// Whether UndefinedVar findings are wanted and meaningful.
    report_undefined: bool,
    /// Every ARG name declared so far, valued or not.
    declared: BTreeSet<String>,
    checks: Vec<Check>,
}

impl Walk<'_> {
    /// ARG and ENV update the scope.
    fn apply(&mut self, step: &Step) -> Result<()> {
        apply_scope(
            step,
            &mut self.scope,
            &self.lexer,
            &self.options.build_args,
            self.globals,
        )
    }

    /// Resolves an expanded `--from` and records a stage dependency.
    fn resolve(&mut self, from: &str, step: &Step) -> Result<Source> {
        let source = self
            .stages
            .resolve_from(self.index, from, step.node.location)?;
        if let Source::Stage(i) = source {
            self.deps.insert(i);
        }
        Ok(source)
    }

    /// Plans one step; `None` for ARG, which changes no filesystem or
    /// config (it only feeds later expansions and RUN environments, whose
    /// keys carry it).
    fn step(&mut self, step: &Step) -> Result<Option<PlannedStep>> {
        if let Instruction::Arg(list) = &step.instruction {
            self.declared
                .extend(list.iter().map(|(name, _)| name.clone()));
            self.apply(step)?;
            return Ok(None);
        }
        match &step.instruction {
            Instruction::Run(run) => return self.run(run, step).map(Some),
            Instruction::Env(pairs) => return self.env(pairs, step).map(Some),
            _ => {}
        }
        let mut ex = Expander::new(self.lexer, &self.scope, step);
        let config = &mut self.config;
        let bad_value = |flag: &str, value: String, reason: &'static str| {
            step.node.error(SyntaxError::InvalidFlagValue {
                flag: flag.to_owned(),
                value,
                reason,
            })
        };
        let (op, text) = match &step.instruction {
            Instruction::Copy(c) | Instruction::Add(c) => {
                let add = matches!(step.instruction, Instruction::Add(_));
                let workdir = config.workdir.clone();
                let mut resolve = |from: &str| self.resolve(from, step);
                let op = plan_copy(c, add, &mut ex, &workdir, &mut resolve)?;
                let text = format!("{} {op:?}", if add { "ADD" } else { "COPY" });
                (op, text)
            }
            Instruction::Workdir(w) => {
                let w = ex.word(w)?;
                config.workdir = join(&workdir_or_root(&config.workdir), &w);
                (
                    Op::Workdir(config.workdir.clone()),
                    format!("WORKDIR {}", json(&config.workdir)),
                )
            }
            Instruction::User(u) => {
                config.user = ex.word(u)?;
                (Op::Config, format!("USER {}", json(&config.user)))
            }
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    for word in ex.words(p)? {
                        let spec =
                            port_spec(&word).map_err(|r| bad_value("EXPOSE", word.clone(), r))?;
                        out.push(spec);
                    }
                }
                config.exposed_ports.extend(out.iter().cloned());
                (Op::Config, format!("EXPOSE {}", json(&out)))
            }
            Instruction::Label(pairs) => {
                let mut out = Vec::new();
                for (k, v) in pairs {
                    out.push((ex.word(k)?, ex.word(v)?));
                }
                config.labels.extend(out.iter().cloned());
                (Op::Config, format!("LABEL {}", json(&out)))
            }
            Instruction::Volume(vols) => {
                let mut out = Vec::new();
                for v in vols {
                    let v = ex.word(v)?;
                    if v.is_empty() {
                        return Err(step.node.error(SyntaxError::Arguments {
                            instruction: "VOLUME",
                            expected: "non-empty paths",
                        }));
                    }
                    out.push(v);
                }
                config.volumes.extend(out.iter().cloned());
                (Op::Config, format!("VOLUME {}", json(&out)))
            }
            Instruction::Stopsignal(s) => {
                let s = ex.word(s)?;
                if !is_signal(&s) {
                    return Err(bad_value("STOPSIGNAL", s, "not a signal name or number"));
                }
                config.stop_signal = Some(s.clone());
                (Op::Config, format!("STOPSIGNAL {}", json(&s)))
            }
            Instruction::Healthcheck(h) => {
                config.healthcheck = Some(h.clone());
                (Op::Config, format!("HEALTHCHECK {h:?}"))
            }
            Instruction::Cmd(cmd) => {
                config.command.set_cmd(cmd);
                (Op::Config, format!("CMD {}", json(&config.command.cmd)))
            }
            Instruction::Entrypoint(cmd) => {
                config.command.set_entrypoint(cmd);
                let (e, c) = (&config.command.entrypoint, &config.command.cmd);
                (
                    Op::Config,
                    format!("ENTRYPOINT {} CMD {}", json(e), json(c)),
                )
            }
            Instruction::Shell(shell) => {
                config.command.set_shell(shell.clone());
                (Op::Config, format!("SHELL {}", json(shell)))
            }
            Instruction::Onbuild { text, .. } => {
                config.onbuild.push(text.clone());
                (Op::Config, format!("ONBUILD {}", json(text)))
            }
            Instruction::Maintainer(m) => {
                config.author = Some(m.clone());
                (Op::Config, format!("MAINTAINER {}", json(m)))
            }
            // Split off into stages; the others handled above.
            Instruction::From(_)
            | Instruction::Arg(_)
            | Instruction::Run(_)
            | Instruction::Env(_) => {
                return Ok(None);
            }
        };
        self.report_undefined(&ex.unset, step);
        Ok(Some(PlannedStep {
            location: step.node.location,
            original: step.node.original.clone(),
            op,
            key: ex.key(text),
        }))
    }

    /// UndefinedVar: a variable an expansion needed that no ARG (valued or
    /// not) or ENV defines, with the nearest defined name as a hint.
    fn report_undefined(&mut self, unset: &BTreeSet<String>, step: &Step) {
        if !self.report_undefined {
            return;
        }
        let defined = self.scope.vars();
        for name in unset.iter().filter(|n| !self.declared.contains(*n)) {
            let hint = defined
                .keys()
                .map(|k| (distance(name, k), k))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, k)| format!(" (did you mean ${k}?)"))
                .unwrap_or_default();
            self.checks.push(Check::new(
                "UndefinedVar",
                format!("Usage of undefined variable '${name}'{hint}"),
                step.node.location,
            ));
        }
    }

    fn env(&mut self, pairs: &[(String, String)], step: &Step) -> Result<PlannedStep> {
        // Expanded on the snapshot before the line (all pairs of one ENV
        // see that) to record which variables the values used.
        let mut ex = Expander::new(self.lexer, &self.scope, step);
        for (k, v) in pairs {
            ex.word(k)?;
            ex.word(v)?;
        }
        self.report_undefined(&ex.unset, step);
        self.apply(step)?;
        self.config.env = self.scope.env().to_vec();
        Ok(PlannedStep {
            location: step.node.location,
            original: step.node.original.clone(),
            op: Op::Config,
            key: ex.key(format!("ENV {}", json(&self.config.env))),
        })
    }

    fn run(&mut self, run: &RunSpec, step: &Step) -> Result<PlannedStep> {
        let mut ex = Expander::new(self.lexer, &self.scope, step);
        let (argv, files) = run_command(&self.config.command, run, self.lexer.escape());
        let mut mounts = Vec::with_capacity(run.mounts.len());
        for m in &run.mounts {
            let mut failure = None;
            let parsed = {
                let mut expand = |v: &str| {
                    ex.word(v).map_err(|e| {
                        failure = Some(e);
                        SyntaxError::InvalidMount {
                            spec: m.spec.clone(),
                            reason: "a value could not be expanded".to_owned(),
                        }
                    })
                };
                MountSpec::parse_with(&m.spec, &mut expand)
            };
            if let Some(e) = failure {
                return Err(e);
            }
            let mount = parsed.map_err(|kind| step.node.error(kind))?;
            if let Some(from) = mount.from.as_deref().filter(|f| !f.is_empty()) {
                self.resolve(from, step)?;
            }
            mounts.push(mount);
        }
        self.report_undefined(&ex.unset, step);
        let env = run_env(&self.scope, self.options);
        let workdir = workdir_or_root(&self.config.workdir);
        let file_key: Vec<_> = files
            .iter()
            .map(|f| (&f.path, &f.content, f.mode))
            .collect();
        let text = format!(
            "RUN {} mounts={} network={:?} security={:?} workdir={} user={} files={}",
            json(&argv),
            json(&mounts.iter().map(canonical_mount).collect::<Vec<_>>()),
            run.network,
            run.security,
            json(&workdir),
            json(&self.config.user),
            json(&file_key),
        );
        // The whole environment the command sees, proxies excepted.
        let vars = env
            .iter()
            .filter(|(k, _)| !is_proxy_arg(k))
            .cloned()
            .collect();
        Ok(PlannedStep {
            location: step.node.location,
            original: step.node.original.clone(),
            op: Op::Run {
                argv,
                env,
                mounts,
                network: run.network,
                security: run.security.clone(),
                files,
                workdir,
                user: self.config.user.clone(),
            },
            key: KeyMaterial { text, vars },
        })
    }
}

/// RUN's argv, as BuildKit builds it: a command that is only a heredoc
/// runs the body (as a script file when it starts with `#!`, else through
/// the shell); a command with heredocs among other words gets the bodies
/// and terminators appended so the shell reads them as real heredocs.
fn run_command(
    command: &CommandConfig,
    run: &RunSpec,
    escape: char,
) -> (Vec<String>, Vec<RunFile>) {
    let ShellOrExec::Shell(line) = &run.cmd else {
        return (command.argv(&run.cmd), Vec::new());
    };
    let Some(first) = run.heredocs.first() else {
        return (command.argv(&run.cmd), Vec::new());
    };
    if sole_marker(line, escape) {
        if first.content.starts_with("#!") {
            let path = format!("/dev/pipes/{}", first.name);
            let file = RunFile {
                path: path.clone(),
                content: first.content.clone(),
                mode: 0o755,
            };
            return (vec![path], vec![file]);
        }
        return (
            command.argv(&ShellOrExec::Shell(first.content.clone())),
            Vec::new(),
        );
    }
    let mut full = line.clone();
    for h in &run.heredocs {
        full.push('\n');
        full.push_str(&h.content);
        full.push_str(&h.name);
    }
    (command.argv(&ShellOrExec::Shell(full)), Vec::new())
}

/// COPY/ADD with everything expanded; `resolve` turns a `--from` value
/// into a source (and records the dependency).
fn plan_copy(
    c: &CopySpec,
    add: bool,
    ex: &mut Expander<'_>,
    workdir: &str,
    resolve: &mut dyn FnMut(&str) -> Result<Source>,
) -> Result<Op> {
    let step = ex.step;
    let mut sources = Vec::with_capacity(c.sources.len());
    for s in &c.sources {
        match c.heredoc(s) {
            Some(h) => {
                let content = if h.expand {
                    // BuildKit expands heredoc bodies with `\` as the escape
                    // whatever the file's token, and leaves quotes alone.
                    let raw = Lexer::new('\\').without_quote_processing();
                    ex.expand(raw, &h.content)?.text
                } else {
                    h.content.clone()
                };
                sources.push(CopySource::Inline {
                    name: h.name.clone(),
                    content,
                });
            }
            None => sources.push(CopySource::Path(ex.word(s)?)),
        }
    }
    let raw_dest = ex.word(&c.dest)?;
    let dest = if raw_dest.starts_with('/') {
        raw_dest.clone()
    } else {
        let mut d = join(&workdir_or_root(workdir), &raw_dest);
        let dir_like = raw_dest.ends_with('/') || raw_dest == "." || raw_dest.ends_with("/.");
        if dir_like && !d.ends_with('/') {
            d.push('/');
        }
        d
    };
    let from = match ex.opt(c.from.as_deref())?.filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => Some(resolve(&f)?),
    };
    let chmod = ex.opt(c.chmod.as_deref())?;
    if let Some(mode) = &chmod
        && u32::from_str_radix(mode, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .is_none()
    {
        return Err(step.node.error(SyntaxError::InvalidFlagValue {
            flag: "chmod".to_owned(),
            value: mode.clone(),
            reason: "not an octal file mode",
        }));
    }
    let mut exclude = Vec::with_capacity(c.exclude.len());
    for e in &c.exclude {
        exclude.push(ex.word(e)?);
    }
    Ok(Op::Copy {
        add,
        sources,
        dest,
        from,
        chown: ex.opt(c.chown.as_deref())?,
        chmod,
        link: c.link,
        parents: c.parents,
        exclude,
        checksum: ex.opt(c.checksum.as_deref())?,
        keep_git_dir: c.keep_git_dir,
    })
}

fn canonical_mount(m: &MountSpec) -> String {
    format!(
        "{:?} target={:?} source={:?} from={:?} id={:?} sharing={:?} mode={:?} uid={:?} gid={:?} ro={} required={} size={:?} env={:?}",
        m.kind,
        m.target,
        m.source,
        m.from,
        m.id,
        m.sharing,
        m.mode,
        m.uid,
        m.gid,
        m.is_readonly(),
        m.required,
        m.size,
        m.env
    )
}

/// RUN's environment: ENV and ARGs as assigned, then proxy build-args not
/// already set.
fn run_env(scope: &Scope, options: &BuildOptions) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = scope.run_env().to_vec();
    for (k, v) in options.build_args.proxies() {
        if !env.iter().any(|(e, _)| *e == k) {
            env.push((k, v));
        }
    }
    env
}
