//! Real NATS and PostgreSQL servers for the chain tests, from Debian's packages
//! (`nats-server`, `postgresql`; `.ci/run` installs them), each on 127.0.0.1 on a free
//! port with its data in a temporary directory, stopped by pid when dropped.
//!
//! When a server is not installed the test is skipped with a message, except under
//! `CI=true`, where it fails: CI must run them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{find_tool, free_port, PATIENCE};

/// `None` with a message when `what` is missing outside CI; a failure inside CI.
fn missing(what: &str) -> Option<std::convert::Infallible> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is not installed; CI installs it (.ci/run)"
    );
    eprintln!("SKIPPED: {what} is not installed (apt-get install nats-server postgresql)");
    None
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub async fn wait_for_port(port: u16, what: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not listen on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `nats-server -js` child process.
pub struct Nats {
    binary: PathBuf,
    /// JetStream storage, kept across restarts.
    pub dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
    /// Its configuration file (TLS, users), when started with one.
    config: Option<PathBuf>,
    child: Option<Child>,
}

impl Nats {
    /// Starts a server, or `None` (skip) when `nats-server` is missing outside CI.
    pub async fn start() -> Option<Nats> {
        let Some(binary) = find_tool("nats-server") else {
            missing("nats-server")?;
            return None;
        };
        let mut nats = Nats {
            binary,
            dir: tempfile::tempdir().expect("temporary directory"),
            port: free_port(),
            config: None,
            child: None,
        };
        nats.restart().await;
        Some(nats)
    }

    /// Starts a server with configuration `text` (TLS, authorization) besides the
    /// JetStream, address and port options, or `None` (skip) as [`start`](Self::start).
    pub async fn start_with_config(text: &str) -> Option<Nats> {
        let Some(binary) = find_tool("nats-server") else {
            missing("nats-server")?;
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = dir.path().join("nats.conf");
        std::fs::write(&config, text).expect("write nats.conf");
        let mut nats = Nats {
            binary,
            dir,
            port: free_port(),
            config: Some(config),
            child: None,
        };
        nats.restart().await;
        Some(nats)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and storage (after [`stop`](Self::stop)).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut command = Command::new(&self.binary);
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        wait_for_port(self.port, "nats-server").await;
    }

    /// Kills it (SIGKILL by pid: the broker vanishes as on a lost uplink).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A PostgreSQL cluster made by `initdb`, run by `pg_ctl` as an unprivileged user when
/// the tests run as root (PostgreSQL refuses root).
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
    as_user: Option<&'static str>,
}

impl Postgres {
    /// Starts a cluster, or `None` (skip) when PostgreSQL is missing outside CI.
    pub async fn start() -> Option<Postgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| {
                let mut bins: Vec<PathBuf> = dirs
                    .filter_map(|d| d.ok().map(|d| d.path().join("bin")))
                    .filter(|b| b.join("initdb").is_file())
                    .collect();
                bins.sort();
                bins.pop()
            });
        let Some(bin) = bin else {
            missing("postgresql")?;
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        // PostgreSQL refuses to run as root; `id -u` tells without a libc dependency.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let as_user = root.then_some("nobody");
        if let Some(user) = as_user {
            let status = Command::new("chown")
                .args(["-R", user])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown the cluster directory");
        }
        let pg = Postgres {
            bin,
            dir,
            port: free_port(),
            as_user,
        };
        let data = pg.data();
        pg.run("initdb", |c| {
            c.args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data);
        });
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.port,
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("log");
        pg.run("pg_ctl", |c| {
            c.args(["-w", "-D"])
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(&log)
                .arg("start");
        });
        wait_for_port(pg.port, "postgres").await;
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: impl FnOnce(&mut Command)) {
        let program = self.bin.join(tool);
        let mut command = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        args(&mut command);
        let output = command.output().expect("PostgreSQL tool runs");
        assert!(
            output.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A connection string for the `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// The postmaster's pid, from its pid file.
    fn pid(&self) -> Option<String> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Stopped by its pid: SIGQUIT is PostgreSQL's immediate shutdown.
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-QUIT", &pid]).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A certificate authority and a server certificate for 127.0.0.1 it signed, as PEM files
/// made by the `openssl` command in a temporary directory.
pub struct TestCa {
    /// The directory holding the files.
    pub dir: tempfile::TempDir,
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The server's certificate (for `127.0.0.1` and `localhost`).
    pub cert: PathBuf,
    /// The server's key.
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// A `nats-server` configuration: TLS with this CA's server certificate, and two
    /// users, NKey `nkey` (public) and `user` with `password`.
    pub fn server_with_users(&self, nkey: &str, (user, password): (&str, &str)) -> String {
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n\
             authorization {{ users = [ {{ nkey: \"{nkey}\" }}, \
             {{ user: \"{user}\", password: \"{password}\" }} ] }}\n",
            self.cert.display(),
            self.key.display(),
        )
    }

    /// A new CA named `name` and its server certificate, or `None` (skip) when `openssl` is
    /// missing outside CI.
    pub fn new(name: &str) -> Option<TestCa> {
        if find_tool("openssl").is_none() {
            missing("openssl")?;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let p = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let subject = format!("/CN={name}");
        let mut ca = vec![
            "req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem",
        ];
        ca.extend(ec);
        ca.extend(["-subj", &subject]);
        openssl(p, &ca);
        let mut csr = vec!["req", "-keyout", "server.key", "-out", "server.csr"];
        csr.extend(ec);
        csr.extend(["-subj", "/CN=localhost"]);
        openssl(p, &csr);
        std::fs::write(
            p.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write san.ext");
        openssl(
            p,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.pem",
            ],
        );
        Some(TestCa {
            ca: p.join("ca.pem"),
            cert: p.join("server.pem"),
            key: p.join("server.key"),
            dir,
        })
    }
}
