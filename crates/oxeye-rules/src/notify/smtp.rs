//! A small SMTP client for email receivers: EHLO, STARTTLS (rustls, web PKI roots or
//! `tls_config.ca_file`) when the server offers it, AUTH PLAIN or LOGIN when a user is
//! configured and the server offers it, MAIL FROM, RCPT TO for every recipient, DATA with
//! a text (and optional HTML) body. With `require_tls` (the default) a server without
//! STARTTLS is refused, as Alertmanager does. Implicit TLS (port 465) is not supported.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::config::{EmailConfig, GlobalConfig};
use super::receivers::{Notification, SendError};

const TIMEOUT: Duration = Duration::from_secs(15);

fn err(message: String, retryable: bool) -> SendError {
    SendError { message, retryable }
}

/// Standard base64 (for AUTH).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    reader: BufReader<ReadHalf<Box<dyn Io>>>,
    writer: WriteHalf<Box<dyn Io>>,
    host: String,
}

fn split(io: Box<dyn Io>) -> (BufReader<ReadHalf<Box<dyn Io>>>, WriteHalf<Box<dyn Io>>) {
    let (r, w) = tokio::io::split(io);
    (BufReader::new(r), w)
}

/// The TLS client config: `ca_file` roots when given, else the web PKI roots.
fn tls_config(c: &EmailConfig) -> Result<rustls::ClientConfig, SendError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match c.tls_config.as_ref().and_then(|t| t.ca_file.as_ref()) {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| err(format!("reading ca_file {path}: {e}"), false))?;
            for cert in certs {
                let cert = cert.map_err(|e| err(format!("reading ca_file {path}: {e}"), false))?;
                roots
                    .add(cert)
                    .map_err(|e| err(format!("ca_file {path}: {e}"), false))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(format!("tls setup: {e}"), false))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Conn {
    /// Reads one (possibly multi-line) reply: code and the text lines.
    async fn reply(&mut self) -> Result<(u16, Vec<String>), SendError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(TIMEOUT, self.reader.read_line(&mut line))
                .await
                .map_err(|_| {
                    err(
                        format!("smtp {}: timed out waiting for a reply", self.host),
                        true,
                    )
                })?
                .map_err(|e| err(format!("smtp {}: {e}", self.host), true))?;
            if n == 0 {
                return Err(err(format!("smtp {}: connection closed", self.host), true));
            }
            let line = line.trim_end().to_string();
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| {
                err(
                    format!("smtp {}: malformed reply {line:?}", self.host),
                    false,
                )
            })?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, lines));
            }
        }
    }

    async fn command(
        &mut self,
        cmd: &str,
        want: u16,
        shown: &str,
    ) -> Result<Vec<String>, SendError> {
        self.writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .map_err(|e| err(format!("smtp {}: {e}", self.host), true))?;
        let (code, lines) = self.reply().await?;
        if code != want {
            return Err(err(
                format!(
                    "smtp {}: {shown} answered {code} {}",
                    self.host,
                    lines.join(" ")
                ),
                (400..500).contains(&code),
            ));
        }
        Ok(lines)
    }
}

/// Sends `n` as one email to every address of `c.to`.
pub async fn send_email(
    c: &EmailConfig,
    g: &GlobalConfig,
    n: &Notification,
) -> Result<(), SendError> {
    let host = c
        .smarthost
        .clone()
        .or_else(|| g.smtp_smarthost.clone())
        .unwrap_or_default();
    let from = c
        .from
        .clone()
        .or_else(|| g.smtp_from.clone())
        .unwrap_or_default();
    let require_tls = c.require_tls.or(g.smtp_require_tls).unwrap_or(true);
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(&host))
        .await
        .map_err(|_| err(format!("smtp {host}: connect timed out"), true))?
        .map_err(|e| err(format!("smtp {host}: {e}"), true))?;
    let (reader, writer) = split(Box::new(stream));
    let mut conn = Conn {
        reader,
        writer,
        host: host.clone(),
    };
    let (code, greeting) = conn.reply().await?;
    if code != 220 {
        return Err(err(
            format!("smtp {host}: greeting {code} {}", greeting.join(" ")),
            true,
        ));
    }
    let hello = c
        .hello
        .clone()
        .or_else(|| g.smtp_hello.clone())
        .unwrap_or_else(|| "localhost".into());
    let mut ext = conn.command(&format!("EHLO {hello}"), 250, "EHLO").await?;
    if ext.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS")) {
        conn.command("STARTTLS", 220, "STARTTLS").await?;
        let config = tls_config(c)?;
        let name = c
            .tls_config
            .as_ref()
            .and_then(|t| t.server_name.clone())
            .unwrap_or_else(|| {
                host.rsplit_once(':')
                    .map_or(host.as_str(), |h| h.0)
                    .to_string()
            });
        let server_name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| err(format!("smtp {host}: server name {name:?}: {e}"), false))?;
        let Conn { reader, writer, .. } = conn;
        let plain = reader.into_inner().unsplit(writer);
        let tls = tokio::time::timeout(
            TIMEOUT,
            tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server_name, plain),
        )
        .await
        .map_err(|_| err(format!("smtp {host}: TLS handshake timed out"), true))?
        .map_err(|e| err(format!("smtp {host}: TLS handshake: {e}"), false))?;
        let (reader, writer) = split(Box::new(tls));
        conn = Conn {
            reader,
            writer,
            host: host.clone(),
        };
        ext = conn.command(&format!("EHLO {hello}"), 250, "EHLO").await?;
    } else if require_tls {
        return Err(err(
            format!(
                "smtp {host}: require_tls is true (the default) but the server does not advertise STARTTLS"
            ),
            false,
        ));
    }
    let user = c
        .auth_username
        .clone()
        .or_else(|| g.smtp_auth_username.clone());
    if let Some(user) = user.filter(|u| !u.is_empty()) {
        let pass = c
            .auth_password
            .clone()
            .or_else(|| g.smtp_auth_password.clone())
            .unwrap_or_default();
        let auth = ext
            .iter()
            .find(|l| l.to_ascii_uppercase().starts_with("AUTH"))
            .map(|l| l.to_ascii_uppercase())
            .ok_or_else(|| err(format!("smtp {host}: server does not offer AUTH"), false))?;
        if auth.contains("PLAIN") {
            let token = base64(format!("\0{user}\0{pass}").as_bytes());
            conn.command(&format!("AUTH PLAIN {token}"), 235, "AUTH PLAIN")
                .await?;
        } else if auth.contains("LOGIN") {
            conn.command("AUTH LOGIN", 334, "AUTH LOGIN").await?;
            conn.command(&base64(user.as_bytes()), 334, "AUTH LOGIN user")
                .await?;
            conn.command(&base64(pass.as_bytes()), 235, "AUTH LOGIN password")
                .await?;
        } else {
            return Err(err(
                format!("smtp {host}: no supported AUTH mechanism in {auth:?}"),
                false,
            ));
        }
    }
    conn.command(&format!("MAIL FROM:<{}>", bare(&from)), 250, "MAIL FROM")
        .await?;
    let to: Vec<String> =
        c.to.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    for rcpt in &to {
        conn.command(&format!("RCPT TO:<{}>", bare(rcpt)), 250, "RCPT TO")
            .await?;
    }
    conn.command("DATA", 354, "DATA").await?;
    let body = message(c, &from, &to, n);
    conn.command(&format!("{body}\r\n."), 250, "message")
        .await?;
    let _ = conn.command("QUIT", 221, "QUIT").await;
    Ok(())
}

/// `Name <a@b>` -> `a@b`.
fn bare(addr: &str) -> &str {
    match (addr.find('<'), addr.rfind('>')) {
        (Some(a), Some(b)) if a < b => &addr[a + 1..b],
        _ => addr.trim(),
    }
}

/// `Mon, 06 May 2024 12:00:00 +0000`.
fn rfc2822(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = ms.div_euclid(86_400_000);
    let secs = ms.rem_euclid(86_400_000) / 1000;
    let (y, m, d) = oxeye_core::civil::civil_from_days(days);
    let wd = DAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Mon");
    let mon = MONTHS.get((m - 1) as usize).copied().unwrap_or("Jan");
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The message with headers, CRLF line ends and dot-stuffing.
fn message(c: &EmailConfig, from: &str, to: &[String], n: &Notification) -> String {
    let mut headers: Vec<(String, String)> = vec![
        ("From".into(), from.to_string()),
        ("To".into(), to.join(", ")),
        ("Subject".into(), n.title()),
        ("Date".into(), rfc2822(n.at_ms)),
        (
            "Message-Id".into(),
            format!("<{}.{}@oxeye>", n.at_ms, super::api::hash_hex(&n.group_key)),
        ),
        ("MIME-Version".into(), "1.0".into()),
    ];
    for (k, v) in &c.headers {
        if v.contains("{{") {
            continue;
        }
        match headers.iter_mut().find(|(h, _)| h.eq_ignore_ascii_case(k)) {
            Some(h) => h.1 = v.clone(),
            None => headers.push((k.clone(), v.clone())),
        }
    }
    let text = c
        .text
        .clone()
        .filter(|t| !t.contains("{{"))
        .unwrap_or_else(|| n.text());
    let html = c.html.clone().filter(|t| !t.contains("{{"));
    let mut out = String::new();
    for (k, v) in &headers {
        out.push_str(&format!("{k}: {}\r\n", v.replace(['\r', '\n'], " ")));
    }
    match html {
        Some(html) => {
            let boundary = format!("oxeye-{}", super::api::hash_hex(&n.group_key));
            out.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
            ));
            out.push_str(&format!(
                "--{boundary}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{text}\r\n"
            ));
            out.push_str(&format!(
                "--{boundary}\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n{html}\r\n"
            ));
            out.push_str(&format!("--{boundary}--"));
        }
        None => {
            out.push_str("Content-Type: text/plain; charset=UTF-8\r\n\r\n");
            out.push_str(&text);
        }
    }
    out.replace("\r\n", "\n")
        .split('\n')
        .map(|l| {
            if l.starts_with('.') {
                format!(".{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
        assert_eq!(
            rfc2822(1_714_996_800_000),
            "Mon, 06 May 2024 12:00:00 +0000"
        );
    }
}
