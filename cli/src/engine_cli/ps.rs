//! `rbox ps`: docker's table, `-q`, `--filter`, `--format json` and
//! `{{.Field}}` templates.

use std::time::SystemTime;

use anyhow::{Result, bail};
use clap::Args;
use rbox_engine::{Engine, Record, Status};
use serde_json::{Value, json};

/// docker ps's flags.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default: running only).
    #[arg(short, long)]
    all: bool,
    /// Only ids.
    #[arg(short, long)]
    quiet: bool,
    /// Filters: status=, name=, label=, ancestor=, id=.
    #[arg(short, long)]
    filter: Vec<String>,
    /// json, table, or a template like '{{.ID}} {{.Names}}'.
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate ids and commands.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
}

/// "3 seconds", "2 minutes", docker's human durations.
pub fn human(secs: u64) -> String {
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn ago(t: &str) -> Option<u64> {
    let t = rbox_engine::time::parse(t)?;
    Some(
        SystemTime::now()
            .duration_since(t)
            .unwrap_or_default()
            .as_secs(),
    )
}

fn status_text(r: &Record) -> String {
    let s = &r.state;
    match s.status {
        Status::Running if s.paused => {
            format!("Up {} (Paused)", human(ago(&s.started_at).unwrap_or(0)))
        }
        Status::Running => format!("Up {}", human(ago(&s.started_at).unwrap_or(0))),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            human(ago(&s.finished_at).unwrap_or(0))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human(ago(&s.finished_at).unwrap_or(0))
        ),
        Status::Created => "Created".into(),
        other => other.to_string(),
    }
}

/// docker's state word: `paused` for a frozen running container.
fn state_word(r: &Record) -> String {
    if r.state.paused && r.state.status == Status::Running {
        "paused".into()
    } else {
        r.state.status.to_string()
    }
}

fn row(r: &Record, no_trunc: bool) -> Value {
    let id = if no_trunc {
        r.id.clone()
    } else {
        r.id[..12].to_string()
    };
    let mut cmd = r.command.join(" ");
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
    }
    let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "ID": id,
        "Image": r.image,
        "Command": format!("\"{cmd}\""),
        "CreatedAt": r.created,
        "RunningFor": format!("{} ago", human(ago(&r.created).unwrap_or(0))),
        "Status": status_text(r),
        "State": state_word(r),
        "Ports": r.ports.join(", "),
        "Names": r.name,
        "Labels": labels.join(","),
        "Mounts": r.mounts.iter().map(|m| m.source.clone()).collect::<Vec<_>>().join(","),
    })
}

fn matches(r: &Record, filters: &[(String, String)]) -> Result<bool> {
    for (k, v) in filters {
        let ok = match k.as_str() {
            "status" => state_word(r) == *v,
            "name" => r.name.contains(v.as_str()),
            "id" => r.id.starts_with(v.as_str()),
            "ancestor" => r.image == *v || r.image_id.contains(v.as_str()),
            "label" => match v.split_once('=') {
                Some((lk, lv)) => r.labels.get(lk).is_some_and(|x| x == lv),
                None => r.labels.contains_key(v.as_str()),
            },
            "exited" => r.state.status == Status::Exited && r.state.exit_code.to_string() == *v,
            _ => bail!("invalid filter {k:?}: use status, name, id, label, ancestor or exited"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Renders Go-template-like placeholders: `{{.Field}}`, nested
/// `{{.State.Status}}`, and `{{json .X}}` / `{{json .}}`.
pub fn template(t: &str, v: &Value) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let expr = rest[i + 2..i + j].trim();
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        if let Some(path) = path.strip_prefix('.') {
            // `.State.Status`: field by field; `.` alone is the object.
            let field = path
                .split('.')
                .filter(|f| !f.is_empty())
                .fold(v, |cur, f| &cur[f]);
            match field {
                _ if json => out.push_str(&field.to_string()),
                Value::String(s) => out.push_str(s),
                Value::Null => {}
                other => out.push_str(&other.to_string()),
            }
        }
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out.replace("\\t", "\t")
}

/// Runs `ps`.
pub fn run(engine: &Engine, a: &PsArgs) -> Result<u8> {
    let mut filters = Vec::new();
    for f in &a.filter {
        let Some((k, v)) = f.split_once('=') else {
            bail!("bad filter {f:?}: expected KEY=VALUE");
        };
        filters.push((k.to_string(), v.to_string()));
    }
    let mut rows = Vec::new();
    for r in engine.list()? {
        let show = a.all
            || r.state.status == Status::Running
            || filters.iter().any(|(k, _)| k == "status");
        if show && matches(&r, &filters)? {
            rows.push((r.id.clone(), row(&r, a.no_trunc)));
        }
    }
    if a.quiet {
        for (id, _) in &rows {
            println!("{}", if a.no_trunc { id.as_str() } else { &id[..12] });
        }
        return Ok(0);
    }
    match a.format.as_deref() {
        Some("json") => {
            for (_, v) in &rows {
                println!("{v}");
            }
        }
        Some(t) if t != "table" => {
            let t = t.strip_prefix("table ").unwrap_or(t);
            for (_, v) in &rows {
                println!("{}", template(t, v));
            }
        }
        _ => {
            // docker's tabwriter: columns as wide as their widest cell.
            let mut table = vec![
                [
                    "CONTAINER ID",
                    "IMAGE",
                    "COMMAND",
                    "CREATED",
                    "STATUS",
                    "PORTS",
                    "NAMES",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for (_, v) in &rows {
                let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
                table.push(vec![
                    s("ID"),
                    s("Image"),
                    s("Command"),
                    s("RunningFor"),
                    s("Status"),
                    s("Ports"),
                    s("Names"),
                ]);
            }
            crate::image_cli::format::print_table(&table);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let v = json!({"ID": "abc", "Names": "web", "N": 3});
        assert_eq!(template("{{.ID}} {{.Names}}", &v), "abc web");
        assert_eq!(template("{{ .N }}\\t{{.Missing}}", &v), "3\t");
        assert_eq!(human(125), "2 minutes");
        let i = json!({"State": {"Status": "exited", "ExitCode": 3}, "Args": ["a"]});
        assert_eq!(
            template("{{.State.Status}} {{.State.ExitCode}}", &i),
            "exited 3"
        );
        assert_eq!(template("{{json .Args}}", &i), "[\"a\"]");
    }
}
