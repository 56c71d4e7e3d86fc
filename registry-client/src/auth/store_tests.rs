use std::fs;

use super::*;
use crate::auth::helper::tests::helper_dir;
use crate::auth::test_server::TestServer;

const HELPER: &str = r#"
read -r input || true
case "$1" in
get) case "$input" in
  *) echo "{\"ServerURL\":\"$input\",\"Username\":\"from-$(basename "$0")\",\"Secret\":\"pw\"}" ;;
  esac ;;
store) echo "$input" > "$(dirname "$0")/stored-$(basename "$0")" ;;
erase) echo "$input" > "$(dirname "$0")/erased-$(basename "$0")" ;;
esac
"#;

const EMPTY_HELPER: &str = "echo 'credentials not found in native keychain'; exit 1";

fn setup(tag: &str, config: &str) -> (crate::auth::test_server::TempDir, CredentialStore) {
    let (dir, env) = helper_dir(
        tag,
        &[
            ("pass", HELPER),
            ("desktop", HELPER),
            ("empty", EMPTY_HELPER),
        ],
    );
    let path = dir.join("config.json");
    fs::write(&path, config).expect("write config");
    let env = env.with("AWS_EC2_METADATA_DISABLED", "true");
    (dir, CredentialStore::new(AuthFile::at(&path), env))
}

fn user(c: Option<Credential>) -> String {
    match c {
        Some(Credential::Basic { username, .. }) => username,
        other => format!("{other:?}"),
    }
}

#[test]
fn lookup_order_helper_then_store_then_auths() {
    let (_dir, store) = setup(
        "order",
        r#"{"credHelpers": {"helped.example": "pass"}, "credsStore": "desktop",
            "auths": {"helped.example": {"auth": "ZmlsZTpw"}, "plain.example": {"auth": "ZmlsZTpw"}}}"#,
    );
    assert_eq!(
        user(store.lookup("helped.example").expect("helper")),
        "from-docker-credential-pass"
    );
    assert_eq!(
        user(store.lookup("plain.example").expect("store")),
        "from-docker-credential-desktop"
    );

    let (_dir2, store) = setup(
        "order2",
        r#"{"credsStore": "empty", "auths": {"plain.example": {"auth": "ZmlsZTpw"}}}"#,
    );
    assert_eq!(
        user(
            store
                .lookup("plain.example")
                .expect("auths after empty store")
        ),
        "file"
    );
    assert_eq!(store.lookup("anon.example").expect("anonymous"), None);
}

#[test]
fn ecr_login_helper_is_answered_natively() {
    let server = TestServer::start(|r| {
        if r.header("x-amz-target")
            .is_some_and(|t| t.ends_with("GetAuthorizationToken"))
        {
            (200, r#"{"authorizationData":[{"authorizationToken":"QVdTOnRva2Vu","expiresAt":1420070400}]}"#.into())
        } else {
            (400, "{}".into())
        }
    });
    let (dir, env) = helper_dir("ecrlogin", &[]);
    let path = dir.join("config.json");
    fs::write(&path, r#"{"credHelpers": {"127.0.0.1:5000": "ecr-login"}}"#).expect("write");
    let env = env
        .with("AWS_ACCESS_KEY_ID", "AKID")
        .with("AWS_SECRET_ACCESS_KEY", "s")
        .with("AWS_REGION", "us-east-1")
        .with("AWS_ENDPOINT_URL_ECR", server.url());
    let store = CredentialStore::new(AuthFile::at(&path), env);
    assert_eq!(
        store.lookup("127.0.0.1:5000").expect("native ecr"),
        Some(Credential::Basic {
            username: "AWS".into(),
            password: "token".into()
        })
    );
    assert!(matches!(
        store.login("127.0.0.1:5000", "u", "p"),
        Err(AuthError::EcrManaged { .. })
    ));
}

#[test]
fn a_default_ecr_login_store_leaves_other_registries_to_auths() {
    let (_dir, store) = setup(
        "ecrstore",
        r#"{"credsStore": "ecr-login", "auths": {"plain.example": {"auth": "ZmlsZTpw"}}}"#,
    );
    assert_eq!(user(store.lookup("plain.example").expect("auths")), "file");
    assert_eq!(store.lookup("anon.example").expect("anonymous"), None);
    assert!(matches!(
        store.login("plain.example", "u", "p"),
        Ok(Stored::File(_))
    ));
    assert!(matches!(
        store.login("123456789012.dkr.ecr.us-east-1.amazonaws.com", "u", "p"),
        Err(AuthError::EcrManaged { .. })
    ));
}

#[test]
fn login_and_logout_use_the_file_or_the_helper() {
    let (dir, store) = setup(
        "login",
        r#"{"credHelpers": {"helped.example": "pass"}, "auths": {"helped.example": {"auth": "b2xkOnA="}}}"#,
    );
    assert_eq!(
        store.login("plain.example", "u", "p").expect("file login"),
        Stored::File(dir.join("config.json"))
    );
    assert_eq!(
        store
            .login("helped.example", "u", "p")
            .expect("helper login"),
        Stored::Helper("pass".into())
    );
    let stored =
        fs::read_to_string(dir.join("stored-docker-credential-pass")).expect("helper got it");
    assert!(stored.contains("\"Secret\":\"p\""), "{stored}");
    let config = store.auth_file().load().expect("load");
    assert_eq!(
        config.auth("helped.example").expect("lookup"),
        None,
        "plain-text copy dropped"
    );
    assert_eq!(user(config.auth("plain.example").expect("lookup")), "u");
    assert!(store.logout("plain.example").expect("logout"));
    assert!(!store.logout("plain.example").expect("second logout"));
    assert!(store.logout("helped.example").expect("helper logout"));
    assert!(dir.join("erased-docker-credential-pass").exists());
}

#[test]
fn a_corrupt_config_is_an_error_and_never_overwritten() {
    let (dir, store) = setup("corrupt", "{\"auths\": {");
    let err = store.lookup("r.example").expect_err("corrupt");
    assert!(err.to_string().contains("config.json"), "{err}");
    assert!(store.login("r.example", "u", "p").is_err());
    assert_eq!(
        fs::read_to_string(dir.join("config.json")).expect("read"),
        "{\"auths\": {"
    );
}

#[test]
fn a_missing_helper_names_the_binary() {
    let (_dir, store) = setup("missing", r#"{"credsStore": "osxkeychain"}"#);
    let err = store.lookup("r.example").expect_err("missing helper");
    assert!(
        err.to_string().contains("docker-credential-osxkeychain"),
        "{err}"
    );
}
