//! How CMD, ENTRYPOINT and SHELL shape the image config, as docker and
//! BuildKit do it:
//!
//! - A shell-form command runs as `SHELL + [command]`; SHELL defaults to
//!   `["/bin/sh", "-c"]` and is itself part of the image config, so a
//!   stage built FROM another inherits it.
//! - Setting ENTRYPOINT clears a CMD inherited from the base image, but not
//!   one set earlier in the same stage.

use crate::instructions::ShellOrExec;

/// The shell used when no SHELL instruction is in effect.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned()]
}

/// The command-related part of an image config while a stage is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandConfig {
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `Shell` (`None`: the default).
    pub shell: Option<Vec<String>>,
    /// Whether this stage set CMD itself.
    cmd_set: bool,
}

impl CommandConfig {
    /// The config a stage starts with: its base's values, CMD inherited.
    pub fn inherit(
        entrypoint: Option<Vec<String>>,
        cmd: Option<Vec<String>>,
        shell: Option<Vec<String>>,
    ) -> Self {
        Self {
            entrypoint,
            cmd,
            shell,
            cmd_set: false,
        }
    }

    /// The shell in effect.
    pub fn shell(&self) -> Vec<String> {
        self.shell.clone().unwrap_or_else(default_shell)
    }

    /// The argv a command runs as: exec form as is, shell form through the
    /// shell.
    pub fn argv(&self, cmd: &ShellOrExec) -> Vec<String> {
        match cmd {
            ShellOrExec::Exec(args) => args.clone(),
            ShellOrExec::Shell(line) => {
                let mut argv = self.shell();
                argv.push(line.clone());
                argv
            }
        }
    }

    /// ENTRYPOINT: also drops a CMD that came from the base image.
    pub fn set_entrypoint(&mut self, cmd: &ShellOrExec) {
        self.entrypoint = Some(self.argv(cmd));
        if !self.cmd_set {
            self.cmd = None;
        }
    }

    /// CMD.
    pub fn set_cmd(&mut self, cmd: &ShellOrExec) {
        self.cmd = Some(self.argv(cmd));
        self.cmd_set = true;
    }

    /// SHELL.
    pub fn set_shell(&mut self, shell: Vec<String>) {
        self.shell = Some(shell);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn shell_form_goes_through_the_shell() {
        let mut c = CommandConfig::default();
        assert_eq!(
            c.argv(&ShellOrExec::Shell("echo hi".into())),
            v(&["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(c.argv(&ShellOrExec::Exec(v(&["a", "b"]))), v(&["a", "b"]));
        c.set_shell(v(&["/bin/bash", "-eo", "pipefail", "-c"]));
        assert_eq!(
            c.argv(&ShellOrExec::Shell("x | y".into())),
            v(&["/bin/bash", "-eo", "pipefail", "-c", "x | y"])
        );
        c.set_cmd(&ShellOrExec::Shell("serve".into()));
        assert_eq!(
            c.cmd,
            Some(v(&["/bin/bash", "-eo", "pipefail", "-c", "serve"]))
        );
    }

    #[test]
    fn entrypoint_resets_inherited_cmd_only() {
        let mut c = CommandConfig::inherit(None, Some(v(&["base-cmd"])), None);
        c.set_entrypoint(&ShellOrExec::Exec(v(&["/app"])));
        assert_eq!(c.entrypoint, Some(v(&["/app"])));
        assert_eq!(c.cmd, None);

        let mut c = CommandConfig::inherit(None, Some(v(&["base-cmd"])), None);
        c.set_cmd(&ShellOrExec::Exec(v(&["--help"])));
        c.set_entrypoint(&ShellOrExec::Exec(v(&["/app"])));
        assert_eq!(c.cmd, Some(v(&["--help"])));

        // CMD after ENTRYPOINT is simply set.
        let mut c = CommandConfig::inherit(Some(v(&["/old"])), Some(v(&["x"])), None);
        c.set_entrypoint(&ShellOrExec::Exec(vec![]));
        c.set_cmd(&ShellOrExec::Exec(v(&["y"])));
        assert_eq!(c.entrypoint, Some(vec![]));
        assert_eq!(c.cmd, Some(v(&["y"])));
    }
}
