//! Value rules of single instructions: paths against WORKDIR, EXPOSE port
//! specs, STOPSIGNAL names.

pub(super) fn workdir_or_root(workdir: &str) -> String {
    if workdir.is_empty() {
        "/".to_owned()
    } else {
        workdir.to_owned()
    }
}

/// `base` joined with `path` (absolute `path` wins), cleaned.
pub(super) fn join(base: &str, path: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in full.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// moby's `signal.ParseSignal` on Linux: a positive number, or a name with
/// or without `SIG`, real-time ones as `RTMIN+n` / `RTMAX-n`.
pub(super) fn is_signal(text: &str) -> bool {
    if let Ok(n) = text.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    const NAMES: [&str; 35] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ",
    ];
    if NAMES.contains(&name) || name == "RTMIN" || name == "RTMAX" {
        return true;
    }
    let offset = |rest: &str| rest.parse::<u8>().is_ok_and(|n| (1..=15).contains(&n));
    name.strip_prefix("RTMIN+").is_some_and(offset)
        || name.strip_prefix("RTMAX-").is_some_and(offset)
}

/// `80` -> `80/tcp`; `53/udp`; `8000-8010/tcp`. Protocols tcp, udp, sctp.
pub(super) fn port_spec(word: &str) -> Result<String, &'static str> {
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err("protocol must be tcp, udp or sctp");
    }
    let valid = |p: &str| p.parse::<u16>().is_ok();
    let ok = match ports.split_once('-') {
        Some((lo, hi)) => {
            valid(lo) && valid(hi) && lo.parse::<u16>().ok() <= hi.parse::<u16>().ok()
        }
        None => valid(ports),
    };
    if !ok {
        return Err("not a port or port range");
    }
    Ok(format!("{ports}/{proto}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths() {
        assert_eq!(join("/", "app"), "/app");
        assert_eq!(join("/app", "src/../bin"), "/app/bin");
        assert_eq!(join("/app", "/abs"), "/abs");
        assert_eq!(join("/", "../.."), "/");
    }

    #[test]
    fn signals() {
        for ok in ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-1", "sigwinch"] {
            assert!(is_signal(ok), "{ok}");
        }
        for bad in ["0", "65", "SIGFOO", "RTMIN+16", "", "-1"] {
            assert!(!is_signal(bad), "{bad}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(port_spec("80").unwrap(), "80/tcp");
        assert_eq!(port_spec("53/UDP").unwrap(), "53/udp");
        assert_eq!(port_spec("8000-8010").unwrap(), "8000-8010/tcp");
        for bad in ["http", "70000", "80/icmp", "10-5", ""] {
            assert!(port_spec(bad).is_err(), "{bad}");
        }
    }
}
