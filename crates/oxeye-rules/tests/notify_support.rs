//! Test doubles for the built-in notifier: an HTTP endpoint that records every POST
//! (answering with scripted status codes), a tiny SMTP server, and a notifier on a
//! manual clock.

use std::collections::VecDeque;
use std::sync::Arc;

use oxeye_core::{ManualClock, TenantId};
use oxeye_rules::alert::{Alert, LabelSet};
use oxeye_rules::notify::Notifier;
use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Start of the tests' time: 2024-05-06T12:00:00Z, a Monday.
pub const T0: i64 = 1_714_996_800_000;

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub status: u16,
    pub body: serde_json::Value,
}

/// An HTTP endpoint collecting POSTs.
#[derive(Clone)]
pub struct Hook {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Hook {
    pub async fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hook = Hook {
            url,
            received: Arc::default(),
            statuses: Arc::default(),
        };
        let h = hook.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let h = h.clone();
                tokio::spawn(async move { h.serve(conn).await });
            }
        });
        hook
    }

    async fn serve(&self, conn: tokio::net::TcpStream) {
        let mut r = BufReader::new(conn);
        let mut first = String::new();
        if r.read_line(&mut first).await.unwrap_or(0) == 0 {
            return;
        }
        let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                } else if k.eq_ignore_ascii_case("authorization") {
                    authorization = Some(v.trim().to_string());
                }
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await.unwrap();
        let status = self.statuses.lock().pop_front().unwrap_or(200);
        self.received.lock().push(Received {
            path,
            authorization,
            status,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        });
        let resp =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        let _ = r.get_mut().write_all(resp.as_bytes()).await;
    }

    /// The next requests are answered with these codes (then 200).
    pub fn respond_with(&self, codes: &[u16]) {
        self.statuses.lock().extend(codes.iter().copied());
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Received> {
        self.received.lock().clone()
    }

    /// Bodies of requests to `path` that were answered 2xx.
    pub fn delivered(&self, path: &str) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .iter()
            .filter(|r| r.path == path && r.status < 300)
            .map(|r| r.body.clone())
            .collect()
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A firing alert valid for an hour from `now`.
pub fn firing(pairs: &[(&str, &str)], starts: i64, now: i64) -> Alert {
    Alert {
        labels: labels(pairs),
        annotations: labels(&[
            ("summary", "something is wrong"),
            ("runbook_url", "https://runbooks.example/x"),
        ]),
        starts_at_ms: starts,
        ends_at_ms: Some(now + 3_600_000),
        generator_url: "http://prom/graph?g0.expr=up".into(),
    }
}

/// The same alert resolved at `at`.
pub fn resolved(mut a: Alert, at: i64) -> Alert {
    a.ends_at_ms = Some(at);
    a
}

pub fn tenant() -> TenantId {
    TenantId::new("t1").unwrap()
}

/// A notifier on a manual clock at [`T0`].
pub struct Setup {
    pub clock: ManualClock,
    pub notifier: Arc<Notifier>,
    pub dir: tempfile::TempDir,
}

pub fn setup(yaml: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let notifier = Notifier::new(yaml, dir.path().to_path_buf(), Arc::new(clock.clone())).unwrap();
    Setup {
        clock,
        notifier,
        dir,
    }
}

impl Setup {
    /// Moves the clock to `T0 + ms` and runs one round.
    pub async fn at(&self, ms: i64) {
        self.clock.set(T0 + ms);
        self.notifier.flush_due().await;
    }

    pub fn send(&self, alerts: Vec<Alert>) {
        use oxeye_rules::alert::AlertSink;
        self.notifier.send(&tenant(), alerts);
    }
}

/// `(alertname, status)` of every alert in a webhook message.
pub fn alert_names(msg: &serde_json::Value) -> Vec<(String, String, String)> {
    msg["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                a["labels"]["instance"].as_str().unwrap_or("").to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A tiny SMTP server that accepts one session per connection and records the
/// commands and the message; with a TLS config it offers STARTTLS.
#[derive(Clone, Default)]
pub struct Smtp {
    pub addr: String,
    pub sessions: Arc<Mutex<Vec<(Vec<String>, String)>>>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

impl Smtp {
    pub async fn start() -> Smtp {
        Self::start_with(None).await
    }

    /// A server offering STARTTLS with `cert`/`key` (PEM files).
    pub async fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Smtp {
        use rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        Self::start_with(Some(Arc::new(cfg))).await
    }

    async fn start_with(tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>) -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let smtp = Smtp {
            addr: listener.local_addr().unwrap().to_string(),
            sessions: Arc::default(),
            tls,
        };
        let s = smtp.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.serve(Box::new(conn)).await });
            }
        });
        smtp
    }

    async fn serve(&self, conn: Box<dyn Io>) {
        let mut r = BufReader::new(conn);
        let mut commands = Vec::new();
        let mut message = String::new();
        let mut upgraded = false;
        r.get_mut().write_all(b"220 test ESMTP\r\n").await.unwrap();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            let cmd = line.trim_end().to_string();
            commands.push(cmd.clone());
            let upper = cmd.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                if self.tls.is_some() && !upgraded {
                    b"250-test\r\n250 STARTTLS\r\n"
                } else {
                    b"250-test\r\n250 AUTH PLAIN LOGIN\r\n"
                }
            } else if upper == "STARTTLS" {
                let Some(cfg) = self.tls.clone() else {
                    r.get_mut().write_all(b"502 no\r\n").await.unwrap();
                    continue;
                };
                r.get_mut().write_all(b"220 go ahead\r\n").await.unwrap();
                let plain = r.into_inner();
                let Ok(tls) = tokio_rustls::TlsAcceptor::from(cfg).accept(plain).await else {
                    commands.push("TLS FAILED".into());
                    self.sessions.lock().push((commands, message));
                    return;
                };
                upgraded = true;
                commands.push("TLS OK".into());
                r = BufReader::new(Box::new(tls));
                continue;
            } else if upper.starts_with("AUTH PLAIN") {
                b"235 ok\r\n"
            } else if upper == "DATA" {
                r.get_mut().write_all(b"354 go on\r\n").await.unwrap();
                loop {
                    let mut l = String::new();
                    r.read_line(&mut l).await.unwrap();
                    if l == ".\r\n" {
                        break;
                    }
                    message.push_str(&l);
                }
                b"250 queued\r\n"
            } else if upper == "QUIT" {
                r.get_mut().write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            r.get_mut().write_all(reply).await.unwrap();
        }
        self.sessions.lock().push((commands, message));
    }
}

/// A CA and a `localhost` certificate it signed, made with the openssl command:
/// `(ca.pem, leaf.pem, leaf.key)`; `None` without openssl.
pub fn test_certs(
    dir: &std::path::Path,
) -> Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ok = run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=test-ca",
            "-days",
            "1",
        ],
    ]
    .concat())
        && run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat())
        && run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ]);
    ok.then(|| {
        (
            dir.join("ca.pem"),
            dir.join("leaf.pem"),
            dir.join("leaf.key"),
        )
    })
}
