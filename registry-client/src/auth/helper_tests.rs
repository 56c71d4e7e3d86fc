use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

/// A temp dir with `docker-credential-<name>` scripts, used as PATH.
pub(crate) fn helper_dir(
    tag: &str,
    helpers: &[(&str, &str)],
) -> (crate::auth::test_server::TempDir, Env) {
    let dir = crate::auth::test_server::TempDir::new(tag);
    for (name, body) in helpers {
        let path = dir.join(format!("docker-credential-{name}"));
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write helper");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod helper");
    }
    let env = Env::empty().with("PATH", format!("{}:/usr/bin:/bin", dir.display()));
    (dir, env)
}

const FAKE: &str = r#"
read -r input || true
case "$1" in
get)
  case "$input" in
    good.example) echo '{"ServerURL":"good.example","Username":"alice","Secret":"s3cret"}' ;;
    token.example) echo '{"ServerURL":"token.example","Username":"<token>","Secret":"refresh"}' ;;
    garbage.example) echo 'this is not json' ;;
    *) echo 'credentials not found in native keychain'; exit 1 ;;
  esac ;;
store) echo "$input" > "$(dirname "$0")/stored" ;;
erase) echo "$input" > "$(dirname "$0")/erased" ;;
list) echo '{"good.example":"alice"}' ;;
esac
"#;

#[test]
fn get_maps_the_protocol() {
    let (_dir, env) = helper_dir("get", &[("fake", FAKE)]);
    let h = CredentialHelper::find("fake", "good.example", &env).expect("found");
    assert_eq!(
        h.get("good.example").expect("good"),
        Some(Credential::Basic {
            username: "alice".into(),
            password: "s3cret".into()
        })
    );
    assert_eq!(
        h.get("token.example").expect("token"),
        Some(Credential::IdentityToken("refresh".into()))
    );
    assert_eq!(h.get("missing.example").expect("not found is None"), None);
    assert!(matches!(
        h.get("garbage.example"),
        Err(AuthError::HelperOutput { .. })
    ));
    assert_eq!(
        h.list()
            .expect("list")
            .get("good.example")
            .map(String::as_str),
        Some("alice")
    );
}

#[test]
fn store_and_erase_send_the_request() {
    let (dir, env) = helper_dir("store", &[("fake", FAKE)]);
    let h = CredentialHelper::find("fake", "r.example", &env).expect("found");
    h.store("r.example", "bob", "pw").expect("store");
    let stored: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("stored")).expect("stored")).expect("json");
    assert_eq!(stored["ServerURL"], "r.example");
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["Secret"], "pw");
    assert!(h.erase("r.example").expect("erase"));
    assert_eq!(
        fs::read_to_string(dir.join("erased"))
            .expect("erased")
            .trim(),
        "r.example"
    );
}

#[test]
fn failures_quote_stderr_and_name_the_helper() {
    let (_dir, env) = helper_dir("fail", &[("broken", "echo 'keychain locked' >&2; exit 3")]);
    let h = CredentialHelper::find("broken", "r.example", &env).expect("found");
    let err = h.get("r.example").expect_err("fails");
    let msg = err.to_string();
    assert!(
        msg.contains("keychain locked") && msg.contains("docker-credential-broken"),
        "{msg}"
    );
    let err = CredentialHelper::find("absent", "r.example", &env).expect_err("absent");
    assert!(
        err.to_string().contains("docker-credential-absent"),
        "{err}"
    );
}

#[test]
fn a_hanging_helper_is_killed_at_the_deadline() {
    let (_dir, env) = helper_dir("hang", &[("slow", "exec sleep 30")]);
    let h = CredentialHelper::find("slow", "r.example", &env)
        .expect("found")
        .with_timeout(Duration::from_millis(200));
    assert!(matches!(
        h.get("r.example"),
        Err(AuthError::HelperTimeout { .. })
    ));
}

#[test]
fn a_grandchild_holding_the_pipes_does_not_block_past_the_deadline() {
    let (_dir, env) = helper_dir(
        "grandchild",
        &[(
            "fork",
            "sleep 3 &\necho '{\"Username\":\"u\",\"Secret\":\"s\"}'",
        )],
    );
    let h = CredentialHelper::find("fork", "r.example", &env)
        .expect("found")
        .with_timeout(Duration::from_millis(300));
    assert!(matches!(
        h.get("r.example"),
        Err(AuthError::HelperTimeout { .. })
    ));
}
