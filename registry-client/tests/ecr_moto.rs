//! Native ECR authentication against moto, the fake AWS on loopback.
//!
//! moto checks SigV4 signatures only when started with
//! `INITIAL_NO_AUTH_ACTION_COUNT=N` and after an IAM user and access key
//! were created in those first N calls; the test does exactly that, then
//! asks for an ECR token with the real key (must work) and with a wrong
//! secret (must fail), taking the key from the environment, a profile
//! file, a fake IMDSv2 endpoint and a fake ECS endpoint. The token then
//! opens a local distribution registry whose htpasswd holds
//! `AWS:<password>`: the client pushes an image there and pulls it back
//! with [`CredentialStore`] as its credential source.
//!
//! Needs `scripts/moto-venv.sh` (moto in a venv) and, for the data-plane
//! step, Debian's docker-registry and htpasswd. Missing pieces SKIP, or
//! fail under `RBOX_REQUIRE_PRIVILEGED=1`.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rbox_image::manifest::Platform;
use rbox_image::{Reference, Store};
use rbox_registry::auth::sigv4::{Request, SigningParams, sign};
use rbox_registry::auth::{AuthError, AuthFile, CredentialStore, EcrAuth, Env};
use rbox_registry::credential::Credential;
use rbox_registry::{Client, ClientConfig, NoProgress};
use rbox_test_support::{TempRoot, have_command, require};

const REGION: &str = "us-east-1";
/// CreateUser, CreateAccessKey, PutUserPolicy run unauthenticated.
const NO_AUTH_ACTIONS: &str = "3";
/// moto's default account id, which its token carries.
const MOTO_PASSWORD: &str = "123456789012-auth-token";

fn moto_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RBOX_MOTO_SERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let venv = std::env::var_os("RBOX_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/rbox-test/moto-venv"));
    let p = venv.join("bin/moto_server");
    p.exists().then_some(p)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Waits for a TCP listener on `port` (a readiness wait, not a timing
/// assertion).
fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills and reaps the child on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto(server: &Path, log: &Path) -> (Reaped, String) {
    let port = free_port();
    let log = std::fs::File::create(log).expect("moto log");
    let mut child = Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", NO_AUTH_ACTIONS)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log)
        .spawn()
        .expect("start moto_server");
    wait_for_port(port, &mut child, "moto_server");
    (Reaped(child), format!("http://127.0.0.1:{port}"))
}

/// An IAM query call to moto, signed (moto ignores the signature during
/// its first N actions but still routes by the credential scope).
fn iam(endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut pairs = vec![("Version", "2010-05-08")];
    pairs.extend_from_slice(params);
    let body = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                rbox_registry::auth::sigv4::uri_encode(k),
                rbox_registry::auth::sigv4::uri_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let host = endpoint.trim_start_matches("http://").to_owned();
    let headers = vec![
        ("host".to_owned(), host),
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
    ];
    let signed = sign(
        &Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            body: body.as_bytes(),
        },
        &SigningParams {
            access_key_id: "AKIDBOOTSTRAP",
            secret_access_key: "bootstrap",
            session_token: None,
            region: REGION,
            service: "iam",
            time: SystemTime::now(),
        },
    );
    let client = reqwest::blocking::Client::new();
    let mut req = client.post(format!("{endpoint}/")).body(body);
    for (k, v) in headers.iter().skip(1).chain(signed.headers.iter()) {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().expect("IAM call to moto");
    let status = resp.status();
    let text = resp.text().expect("IAM response body");
    assert!(
        status.is_success(),
        "IAM {params:?} failed: {status} {text}"
    );
    text
}

fn xml(text: &str, tag: &str) -> String {
    let start = text.find(&format!("<{tag}>")).expect("tag present") + tag.len() + 2;
    let end = start
        + text[start..]
            .find(&format!("</{tag}>"))
            .expect("tag closed");
    text[start..end].to_owned()
}

/// A one-thread HTTP server answering every request with `respond`.
fn serve(
    respond: impl Fn(&str, &str, &[(String, String)]) -> (u16, String) + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake endpoint");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let mut headers = Vec::new();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    if k == "content-length" {
                        len = v.parse().unwrap_or(0);
                    }
                    headers.push((k, v));
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let (status, text) = respond(&method, &path, &headers);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    url
}

fn base_env(home: &Path, moto: &str) -> Env {
    Env::empty()
        .with("HOME", home.to_string_lossy())
        .with("AWS_EC2_METADATA_DISABLED", "true")
        .with("AWS_ENDPOINT_URL_ECR", moto)
        .with("PATH", "/usr/bin:/bin")
}

const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn expect_moto_token(result: Result<Credential, AuthError>, how: &str) -> String {
    match result {
        Ok(Credential::Basic { username, password }) => {
            assert_eq!(username, "AWS", "{how}");
            assert_eq!(password, MOTO_PASSWORD, "{how}");
            password
        }
        other => panic!("{how}: expected a token, got {other:?}"),
    }
}

#[test]
fn ecr_token_from_moto_with_every_credential_source() {
    let test = "ecr_token_from_moto_with_every_credential_source";
    let Some(server) = moto_server() else {
        require(
            test,
            "moto_server not installed (run scripts/moto-venv.sh)",
            false,
        );
        return;
    };
    let root = TempRoot::new("ecr-moto").expect("temp root");
    let (_moto, moto) = start_moto(&server, &root.join("moto.log"));

    // The first N actions: a user with an access key allowed to use ECR.
    iam(&moto, &[("Action", "CreateUser"), ("UserName", "rbox")]);
    let key = iam(
        &moto,
        &[("Action", "CreateAccessKey"), ("UserName", "rbox")],
    );
    let (key_id, secret) = (xml(&key, "AccessKeyId"), xml(&key, "SecretAccessKey"));
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    iam(
        &moto,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "rbox"),
            ("PolicyName", "all"),
            ("PolicyDocument", policy),
        ],
    );

    // Environment variables.
    let env = base_env(root.path(), &moto)
        .with("AWS_ACCESS_KEY_ID", &key_id)
        .with("AWS_SECRET_ACCESS_KEY", &secret);
    let password = expect_moto_token(
        EcrAuth::new(env.clone()).credential(ECR_HOST),
        "env credentials",
    );

    // A wrong secret is refused: moto checks the signature.
    let wrong = env.clone().with("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    let err = EcrAuth::new(wrong)
        .credential(ECR_HOST)
        .expect_err("a wrong secret must fail");
    assert!(matches!(err, AuthError::AwsRequest { .. }), "{err}");
    let msg = err.to_string();
    // moto: SignatureDoesNotMatch (or InvalidClientTokenId for an unknown key).
    assert!(msg.contains("SignatureDoesNotMatch"), "{msg}");

    // A profile in the shared credentials file.
    let creds = root.join("aws-credentials");
    std::fs::write(
        &creds,
        format!("[ci]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"),
    )
    .expect("write credentials file");
    let env_profile = base_env(root.path(), &moto)
        .with("AWS_SHARED_CREDENTIALS_FILE", creds.to_string_lossy())
        .with("AWS_PROFILE", "ci");
    expect_moto_token(
        EcrAuth::new(env_profile).credential(ECR_HOST),
        "profile credentials",
    );

    // A fake IMDSv2 handing out the key as instance-role credentials.
    let role_json = format!(
        r#"{{"Code":"Success","AccessKeyId":"{key_id}","SecretAccessKey":"{secret}","Expiration":"2099-01-01T00:00:00Z"}}"#
    );
    let imds = serve(move |method, path, headers| {
        let token_ok = headers
            .iter()
            .any(|(k, v)| k == "x-aws-ec2-metadata-token" && v == "tok");
        match (method, path) {
            ("PUT", "/latest/api/token") => (200, "tok".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/") if token_ok => {
                (200, "role".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/role") if token_ok => {
                (200, role_json.clone())
            }
            _ => (401, String::new()),
        }
    });
    let mut env_imds =
        base_env(root.path(), &moto).with("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds);
    env_imds.remove("AWS_EC2_METADATA_DISABLED");
    expect_moto_token(
        EcrAuth::new(env_imds).credential(ECR_HOST),
        "IMDSv2 credentials",
    );

    // ECS/EKS-style container credentials with an authorization token.
    let task_json = format!(
        r#"{{"AccessKeyId":"{key_id}","SecretAccessKey":"{secret}","Expiration":"2099-01-01T00:00:00Z"}}"#
    );
    let ecs = serve(move |_, path, headers| {
        let authorized = headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "task-token");
        if path == "/v2/credentials" && authorized {
            (200, task_json.clone())
        } else {
            (403, "denied".into())
        }
    });
    let env_ecs = base_env(root.path(), &moto)
        .with(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{ecs}/v2/credentials"),
        )
        .with("AWS_CONTAINER_AUTHORIZATION_TOKEN", "task-token");
    expect_moto_token(
        EcrAuth::new(env_ecs).credential(ECR_HOST),
        "container credentials",
    );

    // A local registry bound to ECR auth through credHelpers, as AWS
    // documents for docker; the token must open it.
    data_plane_login(test, root.path(), env, &password);
}

/// Starts Debian's docker-registry with htpasswd `AWS:<password>`, checks
/// the credential `CredentialStore` returns for it (via `credHelpers:
/// ecr-login`, answered natively) is accepted at `/v2/`, then pushes and
/// pulls an image through the client with the store as its credentials.
fn data_plane_login(test: &str, dir: &Path, env: Env, password: &str) {
    let have = have_command("docker-registry") && have_command("htpasswd");
    if !require(
        test,
        "docker-registry and htpasswd (apache2-utils) not installed",
        have,
    ) {
        return;
    }
    let htpasswd = dir.join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "AWS", password])
        .output()
        .expect("run htpasswd");
    assert!(out.status.success(), "htpasswd failed");
    std::fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
    let port = free_port();
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: rbox-test\n    path: {}\n",
            dir.join("registry-data").display(),
            htpasswd.display()
        ),
    )
    .expect("write registry config");
    let log = std::fs::File::create(dir.join("registry.log")).expect("registry log");
    let mut child = Command::new("docker-registry")
        .args(["serve", &config.to_string_lossy()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log)
        .spawn()
        .expect("start docker-registry");
    wait_for_port(port, &mut child, "docker-registry");
    let _registry = Reaped(child);

    let registry = format!("127.0.0.1:{port}");
    let auth_file = dir.join("docker/config.json");
    std::fs::create_dir_all(auth_file.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &auth_file,
        format!(r#"{{"credHelpers": {{"{registry}": "ecr-login"}}}}"#),
    )
    .expect("write config");
    // Not an ECR host name: the region comes from the environment.
    let store = CredentialStore::new(AuthFile::at(&auth_file), env.with("AWS_REGION", REGION));
    let Some(Credential::Basic { username, password }) = store.lookup(&registry).expect("lookup")
    else {
        panic!("no basic credential for {registry}");
    };
    let client = reqwest::blocking::Client::new();
    let anonymous = client
        .get(format!("http://{registry}/v2/"))
        .send()
        .expect("GET /v2/");
    assert_eq!(
        anonymous.status().as_u16(),
        401,
        "the registry must demand auth"
    );
    let authed = client
        .get(format!("http://{registry}/v2/"))
        .basic_auth(&username, Some(&password))
        .send()
        .expect("GET /v2/ with the token");
    assert_eq!(
        authed.status().as_u16(),
        200,
        "the ECR token must open the registry"
    );

    // Push and pull through the registry client, credentials from ECR.
    let mut config = ClientConfig::default();
    config.unpack_layers = false;
    config.certs_dirs = Vec::new();
    let client = Client::new(config, Arc::new(store));
    let source = Store::open(dir.join("source-store")).expect("source store");
    let image = common::make_image(&source, "amd64", 2);
    let reference = Reference::parse(&format!("{registry}/rbox/ecr:v1")).expect("reference");
    let pushed = client
        .push(&source, &image.manifest, &reference, &NoProgress)
        .expect("push with the ECR token");
    assert_eq!(pushed.target.digest, image.manifest);
    let dest = Store::open(dir.join("dest-store")).expect("dest store");
    let platform = Platform::new("linux", "amd64", None);
    let pulled = client
        .pull(&reference, &platform, &dest, &NoProgress)
        .expect("pull with the ECR token");
    assert_eq!(pulled.manifest.digest, image.manifest);
    for (digest, _) in &image.blobs {
        assert_eq!(
            dest.read_blob(digest).expect("pulled blob"),
            source.read_blob(digest).expect("source blob")
        );
    }
}
