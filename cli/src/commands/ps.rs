//! `ps`: the container's processes, as ps(1) output or a JSON pid list.

use anyhow::{Context, Result};

use crate::runtime_cli::Ctx;

/// Runs `ps`.
pub fn run(ctx: &Ctx, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let c = super::load(ctx, id)?;
    let pids = c.pids()?;
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("running ps(1); install procps or use --format json")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for l in lines {
                let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{l}");
                }
            }
        }
        other => anyhow::bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}
