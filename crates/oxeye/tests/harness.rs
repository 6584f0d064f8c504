//! Starting and stopping the binary.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_oxeye");

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A running server.
pub struct Server {
    pub child: Option<Child>,
    pub http: String,
    pub otlp_http: String,
    pub otlp_grpc: String,
    log: PathBuf,
}

impl Server {
    /// Starts a server on `dir` with `config` (YAML) and waits until it is ready.
    pub async fn start(dir: &Path, config: Option<&str>) -> Server {
        Self::start_with(dir, config, &[]).await
    }

    /// [`Server::start`] with extra command-line flags. Ports are picked free and then
    /// released, so another test's server may take one first: a start whose process
    /// exits (bind error) or whose port answers for another data directory is retried on
    /// new ports.
    pub async fn start_with(dir: &Path, config: Option<&str>, extra: &[&str]) -> Server {
        let cfg_path = dir.join("oxeye.yml");
        if let Some(c) = config {
            std::fs::write(&cfg_path, c).unwrap();
        }
        let data = dir.join("data");
        for _ in 0..5 {
            let http_port = free_port();
            let otlp_http_port = free_port();
            let grpc_port = free_port();
            let log = dir.join(format!("oxeye-{http_port}.log"));
            let log_file = std::fs::File::create(&log).unwrap();
            let child = Command::new(BIN)
                .arg("serve")
                .arg(format!("--config.file={}", cfg_path.display()))
                .arg(format!("--storage.path={}", data.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{http_port}"))
                .arg(format!(
                    "--otlp.http-listen-address=127.0.0.1:{otlp_http_port}"
                ))
                .arg(format!("--otlp.grpc-listen-address=127.0.0.1:{grpc_port}"))
                .arg("--log.level=debug")
                .args(extra)
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .unwrap();
            let mut s = Server {
                child: Some(child),
                http: format!("http://127.0.0.1:{http_port}"),
                otlp_http: format!("http://127.0.0.1:{otlp_http_port}"),
                otlp_grpc: format!("http://127.0.0.1:{grpc_port}"),
                log,
            };
            if s.wait_ready(&data).await {
                return s;
            }
            s.kill9_in_place();
        }
        panic!("no server started on free ports after 5 attempts");
    }

    /// Waits until this server is ready; false when its process exited or its port is
    /// served by another process (a port taken between picking and binding).
    async fn wait_ready(&mut self, data: &Path) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        let ours = data.display().to_string();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if let Ok(r) = client.get(format!("{}/-/ready", self.http)).send().await
                && r.status() == 200
            {
                let flags: serde_json::Value = match client
                    .get(format!("{}/api/v1/status/flags", self.http))
                    .send()
                    .await
                {
                    Ok(r) => serde_json::from_slice(&r.bytes().await.unwrap_or_default())
                        .unwrap_or_default(),
                    Err(_) => serde_json::Value::Null,
                };
                return flags["data"]["storage.path"].as_str() == Some(ours.as_str());
            }
            assert!(
                Instant::now() < deadline,
                "server did not become ready; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process without consuming the server (a failed start).
    fn kill9_in_place(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait; returns the exit status success.
    pub fn stop(mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(sent, "cannot send SIGTERM");
        let ok = child.wait().map(|s| s.success()).unwrap_or(false);
        let log = self.log();
        assert!(
            log.contains("storage closed"),
            "shutdown did not close the storage:\n{log}"
        );
        ok
    }

    /// SIGKILL: no chance to flush or close anything.
    pub fn kill9(mut self) {
        self.kill9_in_place();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
