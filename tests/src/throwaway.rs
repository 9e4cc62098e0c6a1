//! A throwaway RabbitMQ node and Postgres cluster for the fault-injection suite, started from
//! the installed server binaries on spare ports in a temporary directory, so a test can kill
//! and restart them without touching the shared services the other tests use. Dropping one
//! kills it and removes its directory.
//!
//! Both run in their own process group, so a kill reaches the server and every helper process
//! it started (Erlang's port programs, Postgres backends) and nothing else.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use std::os::unix::process::CommandExt as _;

/// A port nothing listens on right now.
pub fn spare_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface has free ports")
}

/// A fresh directory under the system temp dir, removed by [`Scratch`]'s drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(prefix: &str) -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server process leading its own process group; dropping it SIGKILLs the whole group.
struct ProcessGroup(Option<Child>);

impl ProcessGroup {
    /// Sends `signal` to every process of the group.
    fn signal(&self, signal: &str) {
        if let Some(child) = &self.0 {
            let _ = Command::new("kill")
                .args([
                    format!("-{signal}"),
                    "--".into(),
                    format!("-{}", child.id()),
                ])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Waits for the leader to exit, SIGKILLing the group after `grace`.
    fn reap(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.0.as_mut().map(Child::try_wait) {
                self.0 = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal("KILL");
        if let Some(mut child) = self.0.take() {
            let _ = child.wait();
        }
    }
}

fn wait_for_port(port: u16, timeout: Duration, what: &str, log: &Path) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{what} did not listen on port {port} within {timeout:?}; its output:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The RabbitMQ server start script: `SWITCHYARD_RABBITMQ_SERVER`, or Debian's location.
fn rabbitmq_server() -> PathBuf {
    std::env::var_os("SWITCHYARD_RABBITMQ_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server"))
}

/// A single RabbitMQ node of its own (own node name, ports, data and Erlang cookie).
pub struct RabbitNode {
    port: u16,
    dist_port: u16,
    name: String,
    server: Option<ProcessGroup>,
    scratch: Scratch,
}

impl RabbitNode {
    /// Starts a node and waits until it accepts AMQP connections.
    pub fn start() -> Result<RabbitNode> {
        let script = rabbitmq_server();
        if !script.exists() {
            bail!(
                "{} not found: install Debian's rabbitmq-server (scripts/services.sh does) or \
                 point SWITCHYARD_RABBITMQ_SERVER at the rabbitmq-server script",
                script.display()
            );
        }
        let scratch = Scratch::new("switchyard-rabbit")?;
        let port = spare_port();
        let mut node = RabbitNode {
            port,
            dist_port: spare_port(),
            name: format!("switchyard-fault-{port}@localhost"),
            server: None,
            scratch,
        };
        let dir = &node.scratch.0;
        std::fs::create_dir_all(dir.join("home"))?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        std::fs::write(dir.join("rabbitmq-env.conf"), "")?;
        node.boot()?;
        Ok(node)
    }

    /// The AMQP URL of this node.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn boot(&mut self) -> Result<()> {
        let dir = self.scratch.0.clone();
        let log = dir.join("server.out");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(rabbitmq_server())
            .current_dir(&dir)
            .env("HOME", dir.join("home"))
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .context("starting rabbitmq-server")?;
        self.server = Some(ProcessGroup(Some(child)));
        wait_for_port(self.port, Duration::from_secs(60), "RabbitMQ", &log)
    }

    /// Stops the node the way an operator restarting it does: `rabbitmqctl stop`, which
    /// closes client connections and shuts the queues down cleanly (a signal to the process
    /// group would also kill `erl_child_setup`, which takes the VM down hard).
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            let stopped = self
                .ctl(&["stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                server.signal("TERM");
            }
            server.reap(Duration::from_secs(30));
        }
    }

    /// What `rabbitmqctl <args>` prints about this node (for a failing test's diagnosis).
    pub fn inspect(&self, args: &[&str]) -> String {
        match self.ctl(args).output() {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(error) => format!("rabbitmqctl {args:?}: {error}"),
        }
    }

    fn ctl(&self, args: &[&str]) -> Command {
        let dir = &self.scratch.0;
        let mut command = Command::new(rabbitmq_server().with_file_name("rabbitmqctl"));
        command
            .args(["-n", &self.name, "-q"])
            .args(args)
            .env("HOME", dir.join("home"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"));
        command
    }

    /// Starts the stopped node again, with its data (durable queues and their messages).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.boot()
    }
}

/// The directory of Postgres' server binaries: `SWITCHYARD_PG_BINDIR`, or `pg_config --bindir`.
fn postgres_bindir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SWITCHYARD_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .context("pg_config not found: install postgresql or set SWITCHYARD_PG_BINDIR")?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Postgres refuses to run as root; as root, the cluster belongs to the `postgres` user.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A Postgres cluster of its own, with a `switchyard` database.
pub struct PgCluster {
    port: u16,
    bindir: PathBuf,
    server: Option<ProcessGroup>,
    scratch: Scratch,
}

impl PgCluster {
    /// Creates the cluster (`initdb`), starts it and creates the database.
    pub fn start() -> Result<PgCluster> {
        let bindir = postgres_bindir()?;
        let scratch = Scratch::new("switchyard-pg")?;
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&scratch.0)
                .status()?;
            anyhow::ensure!(status.success(), "chown of the cluster directory failed");
        }
        let data = scratch.0.join("data");
        let output = as_server_user(&bindir.join("initdb"))
            .args(["--no-sync", "--auth=trust", "--username=postgres", "-D"])
            .arg(&data)
            .output()
            .context("running initdb")?;
        anyhow::ensure!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut cluster = PgCluster {
            port: spare_port(),
            bindir,
            server: None,
            scratch,
        };
        cluster.boot()?;
        let created = as_server_user(&cluster.bindir.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string()])
            .args(["-U", "postgres", "switchyard"])
            .output()?;
        anyhow::ensure!(
            created.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        Ok(cluster)
    }

    /// The connection URL of the `switchyard` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/switchyard", self.port)
    }

    fn boot(&mut self) -> Result<()> {
        let log = self.scratch.0.join("server.out");
        let out = std::fs::File::create(&log)?;
        let child = as_server_user(&self.bindir.join("postgres"))
            .arg("-D")
            .arg(self.scratch.0.join("data"))
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.scratch.0.display()
            ))
            // Throwaway data: a crash of this machine mid-test is not a case to survive.
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .context("starting postgres")?;
        self.server = Some(ProcessGroup(Some(child)));
        wait_for_port(self.port, Duration::from_secs(30), "Postgres", &log)?;
        // The port opens before recovery ends; pg_isready says when connections are served.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("Postgres did not become ready; see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server: a fast shutdown (SIGINT to the postmaster), as `pg_ctl stop` does;
    /// every connection is cut.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            let pid_file = self.scratch.0.join("data/postmaster.pid");
            match std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|text| text.lines().next().map(str::to_owned))
            {
                Some(pid) => {
                    let _ = Command::new("kill").args(["-INT", &pid]).status();
                }
                None => server.signal("INT"),
            }
            server.reap(Duration::from_secs(30));
        }
    }

    /// Starts the stopped server again, with its data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.boot()
    }
}
