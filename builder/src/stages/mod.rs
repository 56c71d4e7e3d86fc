//! Stages: splitting the instructions at each FROM, naming, the
//! dependency graph and the stages a target needs.
//!
//! A stage depends on another through `FROM <stage>`, `COPY --from=<stage>`
//! and `RUN --mount=...,from=<stage>`. References are expanded first (FROM
//! with the global ARGs, the others with the stage's ARG/ENV at that point)
//! and then matched against stage names case-insensitively, or as a stage
//! index for `--from=N`. FROM only sees stages defined before it (a later
//! name is an image, as in BuildKit); `--from` naming the stage itself or a
//! later one is a cycle and an error. Because every dependency points to an
//! earlier stage, ascending index order is always a valid build order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::args::{BuildArgs, Scope};
use crate::error::{Error, Location, Result, excerpt};
use crate::expand::Lexer;
use crate::instructions::{FromSpec, Instruction, MountType, Step};

/// One stage: its FROM and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stage {
    /// Position among the stages, from 0.
    pub index: usize,
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    /// The FROM instruction.
    pub from: FromSpec,
    /// The FROM step itself (for its location).
    pub from_step: Step,
    /// The instructions after FROM, up to the next FROM.
    pub steps: Vec<Step>,
}

impl Stage {
    /// The name used in messages: the alias, else the index.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.index.to_string())
    }
}

/// A Dockerfile split into stages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stages {
    /// ARG steps before the first FROM.
    pub global_args: Vec<Step>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Stage names to indexes (names are unique).
    names: HashMap<String, usize>,
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem.
    Scratch,
    /// An image reference (expanded).
    Image(String),
    /// An earlier stage.
    Stage(usize),
}

/// What a `--from` refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A stage.
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// Stage dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Graph {
    /// Each stage's base.
    pub bases: Vec<Base>,
    /// Each stage's dependencies on other stages (all earlier).
    pub deps: Vec<BTreeSet<usize>>,
    /// Images each stage pulls through `--from` (not its base).
    pub images: Vec<BTreeSet<String>>,
}

impl Stages {
    /// Splits parsed steps at each FROM. Anything but ARG before the first
    /// FROM is an error, as are two stages with one name.
    pub fn split(steps: Vec<Step>) -> Result<Self> {
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        let mut names = HashMap::new();
        for step in steps {
            match (&step.instruction, stages.last_mut()) {
                (Instruction::From(from), _) => {
                    if let Some(name) = &from.alias
                        && names.insert(name.clone(), stages.len()).is_some()
                    {
                        return Err(Error::DuplicateStage {
                            location: step.node.location,
                            name: name.clone(),
                        });
                    }
                    stages.push(Stage {
                        index: stages.len(),
                        name: from.alias.clone(),
                        from: from.clone(),
                        from_step: step,
                        steps: Vec::new(),
                    });
                }
                (_, Some(stage)) => stage.steps.push(step),
                (Instruction::Arg(_), None) => global_args.push(step),
                (_, None) => {
                    return Err(Error::BeforeFrom {
                        location: step.node.location,
                        instruction: excerpt(&step.node.original),
                    });
                }
            }
        }
        if stages.is_empty() {
            return Err(Error::NoStage);
        }
        Ok(Self {
            global_args,
            stages,
            names,
        })
    }

    /// The index of the stage named `name`, case-insensitively.
    fn named(&self, name: &str) -> Option<usize> {
        self.names.get(&name.to_ascii_lowercase()).copied()
    }

    /// The stage called `name` (case-insensitive), or numbered `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.named(name).or_else(|| {
            name.parse::<usize>()
                .ok()
                .filter(|i| *i < self.stages.len())
        })
    }

    /// The stage `--target` names; the last stage when `None`.
    pub fn target(&self, target: Option<&str>) -> Result<usize> {
        match target {
            None => Ok(self.stages.len() - 1),
            Some(name) => self.named(name).ok_or_else(|| Error::UnknownTarget {
                name: name.to_owned(),
            }),
        }
    }

    /// The global ARGs resolved: predefined ones first, then each global
    /// ARG (build-arg, else its default expanded with what came before).
    pub fn global_vars(
        &self,
        lexer: &Lexer,
        build_args: &BuildArgs,
        predefined: &[(String, String)],
    ) -> Result<BTreeMap<String, String>> {
        let mut scope = Scope::new();
        for (k, v) in predefined {
            scope.set_arg(k, v);
        }
        for step in &self.global_args {
            if let Instruction::Arg(list) = &step.instruction {
                for (name, default) in list {
                    // `ARG TARGETOS` before FROM keeps the predefined value.
                    let current = scope.vars().get(name).cloned();
                    scope
                        .declare_arg(
                            lexer,
                            name,
                            default.as_deref(),
                            build_args,
                            current.as_deref(),
                        )
                        .map_err(|e| expand_error(step, default.as_deref().unwrap_or(name), e))?;
                }
            }
        }
        Ok(scope.vars())
    }

    /// Resolves a FROM line of stage `index`: scratch, an earlier stage or
    /// an image, after expanding with the global ARGs.
    pub fn resolve_base(
        &self,
        index: usize,
        lexer: &Lexer,
        globals: &BTreeMap<String, String>,
    ) -> Result<Base> {
        let stage = &self.stages[index];
        let image = lexer
            .expand_word(&stage.from.image, globals)
            .map_err(|e| expand_error(&stage.from_step, &stage.from.image, e))?;
        if image.eq_ignore_ascii_case("scratch") {
            return Ok(Base::Scratch);
        }
        // Only an earlier stage: a later name is an image of that name.
        Ok(match self.named(&image).filter(|i| *i < index) {
            Some(i) => Base::Stage(i),
            None => Base::Image(image),
        })
    }

    /// Resolves an expanded `--from` value used in stage `index`.
    pub fn resolve_from(&self, index: usize, value: &str, location: Location) -> Result<Source> {
        let Some(found) = self.find(value) else {
            return Ok(Source::Image(value.to_owned()));
        };
        if found >= index {
            return Err(Error::StageCycle {
                location,
                stage: self.stages[index].display_name(),
                reference: value.to_owned(),
            });
        }
        Ok(Source::Stage(found))
    }

    /// Walks every stage with its ARG/ENV scope to find what it depends on.
    pub fn graph(
        &self,
        lexer: &Lexer,
        build_args: &BuildArgs,
        predefined: &[(String, String)],
    ) -> Result<Graph> {
        let globals = self.global_vars(lexer, build_args, predefined)?;
        let mut graph = Graph {
            bases: Vec::new(),
            deps: Vec::new(),
            images: Vec::new(),
        };
        let mut final_env: Vec<Vec<(String, String)>> = Vec::new();
        for (index, stage) in self.stages.iter().enumerate() {
            let base = self.resolve_base(index, lexer, &globals)?;
            let mut deps = BTreeSet::new();
            let mut images = BTreeSet::new();
            let mut scope = match base {
                Base::Stage(i) => {
                    deps.insert(i);
                    Scope::with_env(final_env[i].clone())
                }
                _ => Scope::new(),
            };
            for step in &stage.steps {
                apply_scope(step, &mut scope, lexer, build_args, &globals)?;
                for reference in from_references(&step.instruction) {
                    let value = scope
                        .expand(lexer, reference)
                        .map_err(|e| expand_error(step, reference, e))?
                        .text;
                    // `--from=$UNSET` is no reference: the build context.
                    if value.is_empty() {
                        continue;
                    }
                    match self.resolve_from(index, &value, step.node.location)? {
                        Source::Stage(i) => {
                            deps.insert(i);
                        }
                        Source::Image(name) => {
                            images.insert(name);
                        }
                    }
                }
            }
            final_env.push(scope.env().to_vec());
            graph.bases.push(base);
            graph.deps.push(deps);
            graph.images.push(images);
        }
        Ok(graph)
    }
}

/// The unexpanded `--from` values of an instruction: COPY's flag and the
/// `from=` of bind and cache mounts.
pub(crate) fn from_references(instruction: &Instruction) -> Vec<&str> {
    match instruction {
        Instruction::Copy(c) => c.from.as_deref().into_iter().collect(),
        Instruction::Run(r) => r
            .mounts
            .iter()
            .filter(|m| matches!(m.kind, MountType::Bind | MountType::Cache))
            .filter_map(|m| m.from.as_deref())
            .collect(),
        _ => Vec::new(),
    }
}

/// Applies an ARG or ENV step to `scope`.
pub(crate) fn apply_scope(
    step: &Step,
    scope: &mut Scope,
    lexer: &Lexer,
    build_args: &BuildArgs,
    globals: &BTreeMap<String, String>,
) -> Result<()> {
    match &step.instruction {
        Instruction::Arg(list) => {
            for (name, default) in list {
                scope
                    .declare_arg(
                        lexer,
                        name,
                        default.as_deref(),
                        build_args,
                        globals.get(name).map(String::as_str),
                    )
                    .map_err(|e| expand_error(step, default.as_deref().unwrap_or(name), e))?;
            }
        }
        Instruction::Env(pairs) => {
            // All pairs of one ENV see the scope as it was before the line.
            let vars = scope.vars();
            let mut expanded = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                let key = lexer
                    .expand_word(k, &vars)
                    .map_err(|e| expand_error(step, k, e))?;
                let value = lexer
                    .expand_word(v, &vars)
                    .map_err(|e| expand_error(step, v, e))?;
                expanded.push((key, value));
            }
            for (k, v) in expanded {
                scope.set_env(&k, &v);
            }
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn expand_error(step: &Step, word: &str, source: crate::expand::ExpandError) -> Error {
    Error::Expand {
        location: step.node.location,
        instruction: excerpt(&step.node.original),
        word: excerpt(word),
        source,
    }
}

impl Graph {
    /// The stages `target` needs, itself included, in a valid build order.
    pub fn needed(&self, target: usize) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if seen.insert(i) {
                todo.extend(self.deps[i].iter().copied());
            }
        }
        seen.into_iter().collect()
    }

    /// `stages` grouped in waves: every stage of a wave depends only on
    /// stages of earlier waves, so a wave's stages can build in parallel.
    pub fn waves(&self, stages: &[usize]) -> Vec<Vec<usize>> {
        let mut level: BTreeMap<usize, usize> = BTreeMap::new();
        let mut sorted = stages.to_vec();
        sorted.sort_unstable();
        for &i in &sorted {
            let l = self.deps[i]
                .iter()
                .filter_map(|d| level.get(d))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            level.insert(i, l);
        }
        let mut waves: Vec<Vec<usize>> = Vec::new();
        for (i, l) in level {
            if waves.len() <= l {
                waves.resize_with(l + 1, Vec::new);
            }
            waves[l].push(i);
        }
        waves
    }
}

#[cfg(test)]
mod tests;
