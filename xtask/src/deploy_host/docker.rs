//! The two engines a deploy runs on: Docker Compose on a host (what
//! scripts/deploy-host.sh drives, local or over `DOCKER_HOST=ssh://...`),
//! and the local stage's Debian nginx with `docker run` colours (no nginx
//! image can be pulled there). Both read the same deploy/host/nginx.conf.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::flow::Engine;
use super::traffic::Colour;
use crate::bench::system::free_port;
use crate::{Error, Result, fail, http, output_of, output_with_input};

/// The port the service listens on inside its container.
const SERVICE_PORT: u16 = 8080;

/// Docker Compose with deploy/host/compose.yaml: services `blue`, `green`
/// and `nginx`, on whatever engine `DOCKER_HOST` names.
pub(super) struct Compose {
    file: PathBuf,
    nginx_conf: String,
}

/// Where nginx.conf and the upstream directory are in the nginx container
/// (compose.yaml mounts them there), and its prefix for pid and temp files.
const CONTAINER_CONF: &str = "/etc/nginx/nginx.conf";
const CONTAINER_SERVERS: &str = "/etc/nginx/upstream/servers.conf";
const CONTAINER_PREFIX: &str = "/tmp/";

impl Compose {
    pub(super) fn new(root: &Path) -> Result<Self> {
        let dir = root.join("deploy/host");
        let nginx_conf = fs::read_to_string(dir.join("nginx.conf"))
            .map_err(|e| Error(format!("cannot read deploy/host/nginx.conf: {e}")))?;
        let probe = Command::new("docker").args(["compose", "version"]).output();
        if !probe.is_ok_and(|out| out.status.success()) {
            fail!(
                "'docker compose' does not run; install Docker Compose v2.24 or newer (the compose plugin: https://docs.docker.com/compose/install/)"
            );
        }
        Ok(Self {
            file: dir.join("compose.yaml"),
            nginx_conf,
        })
    }

    fn compose(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .arg("compose")
            .arg("--file")
            .arg(&self.file)
            // compose.yaml hands this to nginx as a config: Compose copies
            // it into the container, which works on a remote engine too (a
            // bind mount would name a path on the wrong machine).
            .env("NGINX_CONF", &self.nginx_conf);
        command
    }

    fn service_running(&self, service: &str) -> Result<bool> {
        let running = output_of(
            self.compose()
                .args(["ps", "--status", "running", "--services"]),
        )?;
        Ok(running.lines().any(|s| s.trim() == service))
    }

    fn in_nginx(&self, script: &str) -> Command {
        let mut command = self.compose();
        command.args(["exec", "-T", "nginx", "sh", "-c", script]);
        command
    }
}

impl Engine for Compose {
    fn address(&self, colour: Colour) -> String {
        format!("{colour}:{SERVICE_PORT}")
    }

    fn servers_conf(&mut self) -> Result<Option<String>> {
        if !self.service_running("nginx")? {
            return Ok(None);
        }
        // An nginx that runs but cannot be asked is an error, never "no
        // proxy yet": that would restart the live colour.
        let conf =
            output_of(&mut self.in_nginx(&format!("cat {CONTAINER_SERVERS} 2>/dev/null || true")))?;
        Ok(Some(conf))
    }

    fn start(&mut self, colour: Colour, image: &str) -> Result<()> {
        let variable = format!("{}_IMAGE", colour.name().to_uppercase());
        output_of(
            self.compose()
                .env(variable, image)
                .args(["up", "--detach", "--no-deps", "--force-recreate"])
                .arg(colour.name()),
        )
        .map(drop)
    }

    fn running(&mut self, colour: Colour) -> Result<bool> {
        self.service_running(colour.name())
    }

    fn get(&mut self, colour: Colour, path: &str) -> Result<String> {
        // The colours publish no port: ask from inside the proxy's network.
        output_of(&mut self.in_nginx(&format!(
            "wget -q -T 2 -O - http://{colour}:{SERVICE_PORT}{path}"
        )))
    }

    fn route(&mut self, servers_conf: &str) -> Result<()> {
        let first = !self.service_running("nginx")?;
        if first {
            output_of(
                self.compose()
                    .args(["up", "--detach", "--no-deps", "nginx"]),
            )?;
        }
        let nginx = format!("nginx -p {CONTAINER_PREFIX} -c {CONTAINER_CONF}");
        let script = format!(
            "cat > {CONTAINER_SERVERS}.new && mv -f {CONTAINER_SERVERS}.new {CONTAINER_SERVERS} && {nginx} -t -q && {nginx} -s reload"
        );
        output_with_input(&mut self.in_nginx(&script), Some(servers_conf)).map(drop)
    }

    fn stop(&mut self, colour: Colour, drain: bool) -> Result<()> {
        let verb = if drain { "stop" } else { "kill" };
        output_of(self.compose().arg(verb).arg(colour.name())).map(drop)
    }

    fn log_tail(&mut self, colour: Colour) -> String {
        output_of(
            self.compose()
                .args(["logs", "--no-color", "--tail", "20"])
                .arg(colour.name()),
        )
        .unwrap_or_else(|Error(e)| format!("(no log: {e})"))
    }
}

/// `docker run` options of a colour in the local stage: the hardening of
/// the service in compose.yaml (which deploy/host/compose.yaml
/// extends), as flags. A test holds the two together.
/// (Not the health check: `docker run --health-cmd` needs a shell, which
/// the image does not have; the deploy waits for /readyz itself.)
pub(super) const LOCAL_HARDENING: [&str; 5] = [
    "--read-only",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges:true",
    "--user=65532:65532",
    "--stop-timeout=30",
];

/// The local stage: Debian's nginx with deploy/host/nginx.conf, in
/// target/deploy-host/, in front of two `docker run` colours on loopback
/// ports.
pub(super) struct Local {
    dir: PathBuf,
    app: String,
    ports: [u16; 2],
    proxy_port: u16,
    /// nginx's master process, in the foreground (`daemon off`), so it is
    /// this process's child and its log goes to target/deploy-host/nginx.log.
    nginx_process: Option<Child>,
}

impl Local {
    pub(super) fn new(root: &Path, app: &str) -> Result<Self> {
        let dir = root.join("target/deploy-host");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("upstream"))
            .map_err(|e| Error(format!("cannot create {}: {e}", dir.display())))?;
        // A link, not a copy: nginx runs the repository's own file. Its
        // includes resolve next to the link, in target/deploy-host/.
        std::os::unix::fs::symlink(root.join("deploy/host/nginx.conf"), dir.join("nginx.conf"))
            .map_err(|e| {
                Error(format!(
                    "cannot link nginx.conf into {}: {e}",
                    dir.display()
                ))
            })?;
        let proxy_port = free_port()?;
        fs::write(
            dir.join("listen.conf"),
            format!("listen 127.0.0.1:{proxy_port};\n"),
        )
        .map_err(|e| Error(format!("cannot write listen.conf: {e}")))?;
        Ok(Self {
            dir,
            app: app.to_owned(),
            ports: [free_port()?, free_port()?],
            proxy_port,
            nginx_process: None,
        })
    }

    /// Where the load goes: nginx's loopback port.
    pub(super) fn proxy(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.proxy_port).into()
    }

    fn port(&self, colour: Colour) -> u16 {
        self.ports[colour as usize]
    }

    fn container(&self, colour: Colour) -> String {
        format!("{}-host-{colour}", self.app)
    }

    fn nginx(&self) -> Command {
        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(format!("{}/", self.dir.display()))
            .args(["-e", "stderr", "-c"])
            .arg(self.dir.join("nginx.conf"));
        command
    }

    /// Starts nginx and waits until it listens.
    fn start_proxy(&mut self) -> Result<()> {
        let log_path = self.dir.join("nginx.log");
        let log = fs::File::create(&log_path)
            .map_err(|e| Error(format!("cannot create {}: {e}", log_path.display())))?;
        let child = self
            .nginx()
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| Error(format!("cannot start nginx: {e}")))?;
        self.nginx_process = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(self.proxy()).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        fail!(
            "nginx did not listen on {} within 5 s; its log:\n{}",
            self.proxy(),
            fs::read_to_string(&log_path).unwrap_or_default()
        )
    }

    /// Stops nginx and removes both colours.
    pub(super) fn shut_down(&mut self) {
        if let Some(mut child) = self.nginx_process.take() {
            let _ = output_of(self.nginx().args(["-s", "quit"]));
            if child.wait().is_err() {
                let _ = child.kill();
            }
        }
        for colour in [Colour::Blue, Colour::Green] {
            let _ = Command::new("docker")
                .args(["rm", "--force", &self.container(colour)])
                .output();
        }
    }
}

impl Engine for Local {
    fn address(&self, colour: Colour) -> String {
        format!("127.0.0.1:{}", self.port(colour))
    }

    fn servers_conf(&mut self) -> Result<Option<String>> {
        if self.nginx_process.is_none() {
            return Ok(None);
        }
        // nginx runs only after `route` wrote the file: one that cannot be
        // read is an error, never "no proxy yet" (as in Compose's).
        let path = self.dir.join("upstream/servers.conf");
        fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| Error(format!("cannot read {}: {e}", path.display())))
    }

    fn start(&mut self, colour: Colour, image: &str) -> Result<()> {
        let name = self.container(colour);
        let _ = Command::new("docker")
            .args(["rm", "--force", &name])
            .output();
        let publish = format!("127.0.0.1:{}:{SERVICE_PORT}", self.port(colour));
        output_of(
            Command::new("docker")
                .args(["run", "--detach", "--name", &name, "--publish", &publish])
                .args(LOCAL_HARDENING)
                .arg(image),
        )
        .map(drop)
    }

    fn running(&mut self, colour: Colour) -> Result<bool> {
        let state = output_of(Command::new("docker").args([
            "inspect",
            "--format",
            "{{.State.Running}}",
            &self.container(colour),
        ]))?;
        Ok(state.trim() == "true")
    }

    fn get(&mut self, colour: Colour, path: &str) -> Result<String> {
        let addr = (Ipv4Addr::LOCALHOST, self.port(colour)).into();
        match http::get(addr, path, Duration::from_secs(2)) {
            Ok(response) if (200..300).contains(&response.status) => Ok(response.body),
            Ok(response) => fail!("{path} answered {}", response.status),
            Err(e) => Err(Error(e)),
        }
    }

    fn route(&mut self, servers_conf: &str) -> Result<()> {
        let servers = self.dir.join("upstream/servers.conf");
        let next = self.dir.join("upstream/servers.conf.new");
        fs::write(&next, servers_conf)
            .and_then(|()| fs::rename(&next, &servers))
            .map_err(|e| Error(format!("cannot write {}: {e}", servers.display())))?;
        output_of(self.nginx().args(["-t", "-q"]))?;
        if self.nginx_process.is_some() {
            output_of(self.nginx().args(["-s", "reload"])).map(drop)
        } else {
            self.start_proxy()
        }
    }

    fn stop(&mut self, colour: Colour, drain: bool) -> Result<()> {
        let verb = if drain { "stop" } else { "kill" };
        output_of(Command::new("docker").args([verb, &self.container(colour)])).map(drop)
    }

    fn log_tail(&mut self, colour: Colour) -> String {
        let out = Command::new("docker")
            .args(["logs", "--tail", "20", &self.container(colour)])
            .output();
        match out {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("(no log: {e})"),
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.shut_down();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service in compose.yaml is the one home of the hardening;
    /// the local stage's flags must say the same.
    #[test]
    fn the_local_colours_run_with_compose_yamls_hardening() {
        let root = crate::project_root().expect("root");
        let compose = fs::read_to_string(root.join("compose.yaml")).expect("compose.yaml");
        let pairs = [
            ("--read-only", "read_only: true"),
            ("--cap-drop=ALL", "cap_drop: [ALL]"),
            (
                "--security-opt=no-new-privileges:true",
                r#"security_opt: ["no-new-privileges:true"]"#,
            ),
            ("--user=65532:65532", r#"user: "65532:65532""#),
            ("--stop-timeout=30", "stop_grace_period: 30s"),
        ];
        assert_eq!(
            pairs.len(),
            LOCAL_HARDENING.len(),
            "every flag has its compose.yaml line"
        );
        for (flag, line) in pairs {
            assert!(
                LOCAL_HARDENING.contains(&flag),
                "{flag} is not in LOCAL_HARDENING"
            );
            assert!(
                compose.lines().any(|l| l.trim() == line),
                "compose.yaml has no '{line}' for {flag}: change LOCAL_HARDENING with it"
            );
        }
    }
}
