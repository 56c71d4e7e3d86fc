//! Starts Debian's `docker-registry` (distribution 2.8) on a free loopback
//! port with its own storage and config in a temp dir, in one of five
//! modes, and kills that process (only it) on drop. Shared by the
//! registry client's tests and the end-to-end suites of `integration/`.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fake_registry::{HttpResponse, HttpServer, base64};
use crate::{TempRoot, have_command, require};

/// Debian's registry binary.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// The user of the htpasswd and token modes.
pub const USER: &str = "rboxuser";
/// [`USER`]'s password.
pub const PASSWORD: &str = "s3cret-pass";
/// The TLS mode's host name (resolved to 127.0.0.1 by the client).
pub const TLS_HOST: &str = "registry.test";

/// How the registry is reached and authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP, anonymous.
    Http,
    /// TLS with a throw-away CA, anonymous.
    Tls,
    /// TLS that also demands a client certificate signed by the CA.
    MutualTls,
    /// Plain HTTP with htpasswd basic auth ([`USER`], [`PASSWORD`]).
    Htpasswd,
    /// Plain HTTP with bearer tokens from a token server of our own.
    Token,
}

/// A running registry; dropping it kills the process.
pub struct Distribution {
    child: Child,
    /// Its config, storage (`storage/`), log and certificates.
    pub dir: TempRoot,
    /// The loopback port.
    pub port: u16,
    /// How it was started.
    pub mode: Mode,
    _token_server: Option<HttpServer>,
}

/// True if the registry binary (and openssl/htpasswd for the modes that
/// need them) is here; prints SKIP otherwise (fails under
/// RBOX_REQUIRE_PRIVILEGED=1).
pub fn available(test: &str, mode: Mode) -> bool {
    let mut ok = require(
        test,
        "needs /usr/bin/docker-registry (apt-get install docker-registry)",
        Path::new(REGISTRY_BIN).exists(),
    );
    if ok && matches!(mode, Mode::Tls | Mode::MutualTls | Mode::Token) {
        ok = require(test, "needs openssl", have_command("openssl"));
    }
    if ok && mode == Mode::Htpasswd {
        ok = require(
            test,
            "needs htpasswd (apache2-utils)",
            have_command("htpasswd"),
        );
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn helper command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away CA and a server certificate for `TLS_HOST` and 127.0.0.1.
fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.crt");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=rbox test CA",
        ])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let crt = dir.join("server.crt");
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={TLS_HOST}"),
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    let ext = dir.join("ext.cnf");
    fs::write(
        &ext,
        format!("subjectAltName=DNS:{TLS_HOST},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-out")
        .arg(&crt)
        .arg("-extfile")
        .arg(&ext));
    (ca, crt, key)
}

/// A client certificate signed by the CA `make_tls` made in `dir`.
fn make_client_cert(dir: &Path) {
    let key = dir.join("client.key");
    let csr = dir.join("client.csr");
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=rbox test client",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    let ext = dir.join("client-ext.cnf");
    fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(dir.join("ca.crt"))
        .arg("-CAkey")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(dir.join("client.cert"))
        .arg("-extfile")
        .arg(&ext));
}

impl Distribution {
    /// Starts a registry in `mode` and waits until it listens.
    pub fn start(mode: Mode) -> Self {
        let dir = TempRoot::new("rbox-distribution").expect("temp dir");
        let port = free_port();
        let storage = dir.join("storage");
        fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: rbox-test-secret\n",
            storage.display()
        );
        let mut token_server = None;
        match mode {
            Mode::Http => {}
            Mode::Tls | Mode::MutualTls => {
                let (ca, crt, key) = make_tls(dir.path());
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    crt.display(),
                    key.display()
                ));
                if mode == Mode::MutualTls {
                    make_client_cert(dir.path());
                    config.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
                }
            }
            Mode::Htpasswd => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASSWORD])
                    .output()
                    .expect("run htpasswd");
                assert!(out.status.success());
                let file = dir.join("htpasswd");
                fs::write(&file, out.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: rbox-test\n    path: {}\n",
                    file.display()
                ));
            }
            Mode::Token => {
                let (server, bundle) = token_server_for(dir.path());
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: rbox-test-registry\n    issuer: rbox-test-issuer\n    rootcertbundle: {}\n",
                    server.addr(),
                    bundle.display()
                ));
                token_server = Some(server);
            }
        }
        let cfg = dir.join("config.yml");
        fs::write(&cfg, config).unwrap();
        let log = fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let d = Self {
            child,
            dir,
            port,
            mode,
            _token_server: token_server,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&self) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        for _ in 0..300 {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {addr}: {}",
            fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
        );
    }

    /// The registry part of references.
    pub fn host(&self) -> String {
        match self.mode {
            Mode::Tls | Mode::MutualTls => format!("{TLS_HOST}:{}", self.port),
            _ => format!("127.0.0.1:{}", self.port),
        }
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    /// A certs.d directory trusting this registry's CA (TLS mode).
    pub fn certs_d(&self) -> PathBuf {
        let root = self.dir.join("certs.d");
        let host_dir = root.join(self.host());
        fs::create_dir_all(&host_dir).unwrap();
        fs::copy(self.dir.join("ca.crt"), host_dir.join("ca.crt")).unwrap();
        root
    }

    /// Adds the client identity (MutualTls mode) to a certs.d directory,
    /// as docker's `client.cert` + `client.key`.
    pub fn add_client_cert(&self, certs_d: &Path) {
        let host_dir = certs_d.join(self.host());
        fs::copy(self.dir.join("client.cert"), host_dir.join("client.cert")).unwrap();
        fs::copy(self.dir.join("client.key"), host_dir.join("client.key")).unwrap();
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64url(data: &[u8]) -> String {
    base64(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// A token server in the style of docker's: checks basic auth, grants the
/// requested scopes, signs an RS256 JWT (by the openssl CLI) whose x5c
/// holds a self-signed certificate that is also the registry's
/// rootcertbundle.
fn token_server_for(dir: &Path) -> (HttpServer, PathBuf) {
    let key = dir.join("token.key");
    let crt = dir.join("token.crt");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=rbox token signer",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt));
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&crt)
        .output()
        .expect("openssl x509");
    assert!(der.status.success());
    let x5c = base64(&der.stdout);
    let want = format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes()));
    let workdir = dir.to_owned();
    let counter = std::sync::atomic::AtomicU64::new(0);
    let server = HttpServer::start(move |req| {
        if req.header("authorization") != Some(want.as_str()) {
            return HttpResponse::error(401, "UNAUTHORIZED", "bad credentials");
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<String> = req
            .query_all
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|s| {
                let mut p = s.splitn(3, ':');
                let (t, n, a) = (p.next()?, p.next()?, p.next()?);
                let actions: Vec<String> = a.split(',').map(|x| format!("\"{x}\"")).collect();
                Some(format!(
                    r#"{{"type":"{t}","name":"{n}","actions":[{}]}}"#,
                    actions.join(",")
                ))
            })
            .collect();
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let header = format!(r#"{{"typ":"JWT","alg":"RS256","x5c":["{x5c}"]}}"#);
        let claims = format!(
            r#"{{"iss":"rbox-test-issuer","sub":"{USER}","aud":"rbox-test-registry","exp":{},"nbf":{},"iat":{now},"jti":"rbox-{n}","access":[{}]}}"#,
            now + 300,
            now - 10,
            access.join(",")
        );
        let input = format!(
            "{}.{}",
            b64url(header.as_bytes()),
            b64url(claims.as_bytes())
        );
        let input_file = workdir.join(format!("jwt-{n}.in"));
        fs::write(&input_file, &input).unwrap();
        let sig = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(workdir.join("token.key"))
            .arg(&input_file)
            .output()
            .expect("openssl dgst");
        let jwt = format!("{input}.{}", b64url(&sig.stdout));
        HttpResponse::status(200)
            .header("Content-Type", "application/json")
            .body(format!(r#"{{"token":"{jwt}","expires_in":300}}"#))
    });
    (server, crt)
}
