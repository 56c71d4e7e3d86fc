use std::os::unix::fs::PermissionsExt;

use super::*;

fn temp_dir(tag: &str) -> crate::auth::test_server::TempDir {
    crate::auth::test_server::TempDir::new(tag)
}

fn parse(text: &str) -> Result<DockerConfig, AuthError> {
    DockerConfig::parse(Path::new("/cfg/config.json"), text.as_bytes())
}

fn basic(u: &str, p: &str) -> Option<Credential> {
    Some(Credential::Basic {
        username: u.into(),
        password: p.into(),
    })
}

#[test]
fn normalizes_keys_like_docker() {
    assert_eq!(
        normalize_registry("https://index.docker.io/v1/"),
        "docker.io"
    );
    assert_eq!(normalize_registry("registry-1.docker.io"), "docker.io");
    assert_eq!(
        normalize_registry("http://Localhost:5000/v2/"),
        "localhost:5000"
    );
    assert_eq!(normalize_registry("quay.io"), "quay.io");
    assert_eq!(helper_server_url("docker.io"), DOCKER_HUB_SERVER);
    assert_eq!(helper_server_url("https://ghcr.io"), "ghcr.io");
}

#[test]
fn reads_auth_username_password_and_identity_token() {
    let cfg = parse(
        r#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
            "https://quay.io/v2/": {"username": "q", "password": "qp"},
            "ghcr.io": {"identitytoken": "tok", "auth": "eDp5"},
            "helper-held.example": {}
        }}"#,
    )
    .expect("parse");
    assert_eq!(cfg.auth("docker.io").expect("hub"), basic("user", "pa:ss"));
    assert_eq!(
        cfg.auth("index.docker.io").expect("hub alias"),
        basic("user", "pa:ss")
    );
    assert_eq!(cfg.auth("quay.io").expect("quay"), basic("q", "qp"));
    assert_eq!(
        cfg.auth("ghcr.io").expect("ghcr"),
        Some(Credential::IdentityToken("tok".into()))
    );
    assert_eq!(cfg.auth("helper-held.example").expect("empty"), None);
    assert_eq!(cfg.auth("other.example").expect("absent"), None);
}

#[test]
fn helpers_per_registry_and_default_store() {
    let cfg = parse(
        r#"{"credsStore": "desktop", "credHelpers": {"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login", "https://gcr.io": "gcloud"}}"#,
    )
    .expect("parse");
    assert_eq!(
        cfg.cred_helper("123.dkr.ecr.us-east-1.amazonaws.com")
            .expect("ecr"),
        Some("ecr-login")
    );
    assert_eq!(cfg.cred_helper("gcr.io").expect("gcr"), Some("gcloud"));
    assert_eq!(
        cfg.store_helper("quay.io").expect("default"),
        Some("desktop")
    );
    assert_eq!(cfg.cred_helper("quay.io").expect("none"), None);
}

#[test]
fn corrupt_and_hostile_files_are_errors_naming_the_file() {
    for text in [
        "{",
        "[]",
        "\"auths\"",
        r#"{"auths": []}"#,
        r#"{"auths": {"x": "notanobject"}}"#,
        r#"{"credHelpers": {"x": 1}}"#,
        r#"{"credsStore": {}}"#,
        "\u{0}\u{1}binary",
    ] {
        let err = parse(text).expect_err(text);
        assert!(
            err.to_string().contains("/cfg/config.json"),
            "{text}: {err}"
        );
    }
    assert!(
        parse("")
            .expect("empty file")
            .auth("x")
            .expect("lookup")
            .is_none()
    );
    assert!(parse("  \n").is_ok());
}

#[test]
fn bad_entries_fail_only_their_registry() {
    let cfg = parse(
        r#"{"auths": {"bad.example": {"auth": "!!!"}, "nocolon.example": {"auth": "bm9jb2xvbg=="},
           "typed.example": {"username": 5}, "good.example": {"auth": "dTpw"}}}"#,
    )
    .expect("parse");
    for bad in ["bad.example", "nocolon.example", "typed.example"] {
        let err = cfg.auth(bad).expect_err(bad);
        assert!(matches!(err, AuthError::ConfigEntry { .. }), "{err}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    assert_eq!(cfg.auth("good.example").expect("good"), basic("u", "p"));
}

#[test]
fn helper_names_cannot_be_paths() {
    for name in ["../../bin/sh", "a/b", ".hidden", "x y"] {
        let text = format!(r#"{{"credsStore": {name:?}}}"#);
        let cfg = parse(&text).expect("parse");
        assert!(
            matches!(cfg.creds_store(), Err(AuthError::HelperName { .. })),
            "{name}"
        );
    }
}

#[test]
fn set_and_remove_auth_keep_unknown_fields() {
    let mut cfg = parse(
        r#"{"psFormat": "table", "auths": {"https://index.docker.io/v1/": {"auth": "eDp5", "email": "e@x"}}, "HttpHeaders": {"A": "b"}}"#,
    )
    .expect("parse");
    cfg.set_auth("docker.io", "new", "secret");
    cfg.set_auth("localhost:5000", "a", "b");
    let reparsed =
        DockerConfig::parse(Path::new("/cfg/config.json"), &cfg.to_bytes()).expect("reparse");
    assert_eq!(
        reparsed.auth("docker.io").expect("hub"),
        basic("new", "secret")
    );
    assert_eq!(
        reparsed.auth("localhost:5000").expect("local"),
        basic("a", "b")
    );
    let doc: Value = serde_json::from_slice(&cfg.to_bytes()).expect("json");
    assert_eq!(doc["psFormat"], "table");
    assert_eq!(doc["HttpHeaders"]["A"], "b");
    assert_eq!(doc["auths"]["https://index.docker.io/v1/"]["email"], "e@x");
    assert!(cfg.remove_auth("index.docker.io"));
    assert!(!cfg.remove_auth("index.docker.io"));
    assert_eq!(cfg.auth("docker.io").expect("removed"), None);
}

#[test]
fn save_is_private_and_creates_private_dirs() {
    let dir = temp_dir("save");
    let path = dir.join("nested/docker/config.json");
    let mut cfg = DockerConfig::load(&path).expect("missing file is empty");
    cfg.set_auth("r.example", "u", "p");
    cfg.save().expect("save");
    let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.join("nested/docker")), 0o700);
    assert_eq!(
        DockerConfig::load(&path)
            .expect("load")
            .auth("r.example")
            .expect("entry"),
        basic("u", "p")
    );
    let leftovers: Vec<_> = fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn resolves_paths_in_docker_and_podman_order() {
    let env = Env::empty()
        .with("HOME", "/home/u")
        .with("XDG_RUNTIME_DIR", "/run/user/1");
    let f = AuthFile::resolve(None, &env).expect("home");
    assert_eq!(f.path(), Path::new("/home/u/.docker/config.json"));
    assert_eq!(
        f.fallback(),
        Some(Path::new("/run/user/1/containers/auth.json"))
    );
    let f = AuthFile::resolve(None, &env.clone().with("DOCKER_CONFIG", "/dc")).expect("dc");
    assert_eq!(f.path(), Path::new("/dc/config.json"));
    assert_eq!(f.fallback(), None);
    let env = env
        .with("DOCKER_CONFIG", "/dc")
        .with("REGISTRY_AUTH_FILE", "/raf.json");
    assert_eq!(
        AuthFile::resolve(None, &env).expect("raf").path(),
        Path::new("/raf.json")
    );
    let explicit = AuthFile::resolve(Some(Path::new("/x.json")), &env).expect("explicit");
    assert_eq!(explicit.path(), Path::new("/x.json"));
    assert!(matches!(
        AuthFile::resolve(None, &Env::empty()),
        Err(AuthError::NoAuthFilePath)
    ));
}
