use std::fs;
use std::path::Path;

use super::*;
use crate::auth::test_server::TestServer;

fn temp_dir(tag: &str) -> crate::auth::test_server::TempDir {
    crate::auth::test_server::TempDir::new(tag)
}

/// An environment with no usable sources: no HOME files, IMDS off.
fn bare(dir: &Path) -> Env {
    Env::empty()
        .with("HOME", dir.to_string_lossy())
        .with("AWS_EC2_METADATA_DISABLED", "true")
}

fn found(env: Env) -> AwsCredentials {
    CredentialChain::new(env)
        .resolve("r.example")
        .expect("credentials")
}

#[test]
fn environment_comes_first() {
    let dir = temp_dir("env");
    fs::create_dir_all(dir.join(".aws")).expect("mkdir");
    fs::write(
        dir.join(".aws/credentials"),
        "[default]\naws_access_key_id=FILE\naws_secret_access_key=f\n",
    )
    .expect("write");
    let c = found(
        bare(&dir)
            .with("AWS_ACCESS_KEY_ID", "ENV")
            .with("AWS_SECRET_ACCESS_KEY", "e")
            .with("AWS_SESSION_TOKEN", "t"),
    );
    assert_eq!(
        (c.access_key_id.as_str(), c.session_token.as_deref()),
        ("ENV", Some("t"))
    );
    assert_eq!(found(bare(&dir)).access_key_id, "FILE");
    let err = CredentialChain::new(bare(&dir).with("AWS_ACCESS_KEY_ID", "half"))
        .resolve("r.example")
        .expect_err("half set");
    assert!(
        err.to_string().contains("AWS_SECRET_ACCESS_KEY is not"),
        "{err}"
    );
}

#[test]
fn profiles_from_credentials_and_config_files() {
    let dir = temp_dir("profile");
    let creds = dir.join("creds");
    let config = dir.join("config");
    fs::write(
        &creds,
        "# comment\n[default]\naws_access_key_id = D\naws_secret_access_key = d\n\n[dev]\naws_access_key_id=DEV\naws_secret_access_key=dev\naws_session_token=tok\n",
    )
    .expect("write creds");
    fs::write(
        &config,
        "[default]\nregion = eu-west-1\n[profile ci]\nregion=us-west-2\naws_access_key_id=CI\naws_secret_access_key=ci\ns3 =\n  max_concurrent_requests = 20\n[profile assume]\nrole_arn=arn:aws:iam::1:role/x\nsource_profile=default\n[ci]\nregion=wrong\n",
    )
    .expect("write config");
    let env = bare(&dir)
        .with("AWS_SHARED_CREDENTIALS_FILE", creds.to_string_lossy())
        .with("AWS_CONFIG_FILE", config.to_string_lossy());
    assert_eq!(found(env.clone()).access_key_id, "D");
    assert_eq!(region(&env).as_deref(), Some("eu-west-1"));
    let dev = found(env.clone().with("AWS_PROFILE", "dev"));
    assert_eq!(
        (dev.access_key_id.as_str(), dev.session_token.as_deref()),
        ("DEV", Some("tok"))
    );
    let ci_env = env.clone().with("AWS_PROFILE", "ci");
    assert_eq!(found(ci_env.clone()).access_key_id, "CI");
    assert_eq!(region(&ci_env).as_deref(), Some("us-west-2"));
    assert_eq!(
        region(&ci_env.with("AWS_REGION", "ap-south-1")).as_deref(),
        Some("ap-south-1")
    );
    let err = CredentialChain::new(env.clone().with("AWS_PROFILE", "assume"))
        .resolve("r.example")
        .expect_err("role_arn unsupported");
    assert!(err.to_string().contains("role_arn"), "{err}");
    let err = CredentialChain::new(env.with("AWS_PROFILE", "nope"))
        .resolve("r.example")
        .expect_err("missing profile");
    assert!(err.to_string().contains("\"nope\" not found"), "{err}");
}

#[test]
fn hostile_ini_files_do_not_panic() {
    for text in [
        "[",
        "]]]",
        "=\n=",
        "[default\nkey",
        "\u{0}\u{ff}",
        "[ default ]\naws_access_key_id",
    ] {
        let _ = parse_ini(text);
    }
    let ini = parse_ini("[ profile   x ]\nA = b = c\n");
    assert_eq!(ini["profile x"]["a"], "b = c");
}

#[test]
fn nothing_found_lists_every_source() {
    let dir = temp_dir("none");
    let err = CredentialChain::new(bare(&dir))
        .resolve("r.example")
        .expect_err("none");
    let msg = err.to_string();
    for source in [
        "environment",
        "shared config",
        "web identity",
        "container credentials",
        "EC2 instance metadata",
    ] {
        assert!(msg.contains(source), "{source} missing from: {msg}");
    }
}

const METADATA_JSON: &str = r#"{"Code":"Success","AccessKeyId":"ASIAMETA","SecretAccessKey":"s","Token":"session","Expiration":"2030-01-01T00:00:00Z"}"#;

#[test]
fn imdsv2_token_then_role_then_credentials() {
    let server = TestServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", "/latest/api/token")
            if r.header("x-aws-ec2-metadata-token-ttl-seconds").is_some() =>
        {
            (200, "imds-token".into())
        }
        (_, p) if r.header("x-aws-ec2-metadata-token") != Some("imds-token") => {
            (401, format!("no token for {p}"))
        }
        ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "my-role\n".into()),
        ("GET", "/latest/meta-data/iam/security-credentials/my-role") => {
            (200, METADATA_JSON.into())
        }
        _ => (404, String::new()),
    });
    let dir = temp_dir("imds");
    let mut env = bare(&dir).with(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        format!("{}/", server.url()),
    );
    env.remove("AWS_EC2_METADATA_DISABLED");
    let c = found(env);
    assert_eq!(c.access_key_id, "ASIAMETA");
    assert_eq!(c.session_token.as_deref(), Some("session"));
    assert!(c.expiration.is_some());
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["PUT", "GET", "GET"]);
}

#[test]
fn imds_without_role_or_unreachable_is_skipped() {
    let server = TestServer::start(|r| match r.method.as_str() {
        "PUT" => (200, "t".into()),
        _ => (404, String::new()),
    });
    let dir = temp_dir("imds-norole");
    let mut env = bare(&dir).with("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
    env.remove("AWS_EC2_METADATA_DISABLED");
    let err = CredentialChain::new(env.clone())
        .resolve("r.example")
        .expect_err("no role");
    assert!(err.to_string().contains("no IAM role"), "{err}");
    // A closed port: fails at once, reported as not on EC2.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    env.set(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        format!("http://127.0.0.1:{port}"),
    );
    let err = CredentialChain::new(env)
        .resolve("r.example")
        .expect_err("unreachable");
    assert!(err.to_string().contains("not reachable"), "{err}");
}

#[test]
fn container_credentials_with_token_and_token_file() {
    let server = TestServer::start(|r| match (r.path.as_str(), r.header("authorization")) {
        ("/creds", Some("Bearer secret-token")) => (200, METADATA_JSON.into()),
        _ => (403, "denied".into()),
    });
    let dir = temp_dir("ecs");
    let env = bare(&dir).with(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/creds", server.url()),
    );
    let err = CredentialChain::new(env.clone())
        .resolve("r.example")
        .expect_err("no token");
    assert!(err.to_string().contains("403"), "{err}");
    let c = found(
        env.clone()
            .with("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer secret-token"),
    );
    assert_eq!(c.access_key_id, "ASIAMETA");
    let token_file = dir.join("token");
    fs::write(&token_file, "Bearer secret-token\n").expect("write token");
    let c = found(env.with("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong").with(
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        token_file.to_string_lossy(),
    ));
    assert_eq!(c.source, "container credentials");
}

#[test]
fn container_full_uri_must_be_local_or_https() {
    assert!(check_container_uri("http://127.0.0.1:9/x").is_ok());
    assert!(check_container_uri("http://169.254.170.23/v1/credentials").is_ok());
    assert!(check_container_uri("http://[fd00:ec2::23]/v1/credentials").is_ok());
    assert!(check_container_uri("https://creds.example/x").is_ok());
    assert!(check_container_uri("http://evil.example/x").is_err());
    assert!(check_container_uri("not a url").is_err());
}

#[test]
fn web_identity_calls_sts() {
    let server = TestServer::start(|r| {
        let body = String::from_utf8_lossy(&r.body);
        if body.contains("Action=AssumeRoleWithWebIdentity")
            && body.contains("WebIdentityToken=jwt")
        {
            (
                200,
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
                 <AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>w&amp;s</SecretAccessKey>\
                 <SessionToken>st</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
                 </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
                    .into(),
            )
        } else {
            (
                400,
                "<ErrorResponse><Error><Message>bad request</Message></Error></ErrorResponse>"
                    .into(),
            )
        }
    });
    let dir = temp_dir("webid");
    let token = dir.join("jwt");
    fs::write(&token, "jwt\n").expect("write jwt");
    let c = found(
        bare(&dir)
            .with("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_string_lossy())
            .with("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
            .with("AWS_ENDPOINT_URL_STS", server.url()),
    );
    assert_eq!(
        (c.access_key_id.as_str(), c.secret_access_key.as_str()),
        ("ASIAWEB", "w&s")
    );
}
