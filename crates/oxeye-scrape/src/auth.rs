//! HTTP authentication of scrapes: `basic_auth` and `authorization` as Prometheus
//! configures them. Secrets never appear in `Debug` output or serialized configuration;
//! `*_file` variants are read at every scrape so rotated credentials are picked up.

use std::fmt;

use crate::ScrapeError;

/// A secret string: compared and used, never printed.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<secret>"
        })
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// `basic_auth:`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: Secret,
    /// File holding the password (read at every scrape, surrounding whitespace trimmed).
    #[serde(default)]
    pub password_file: Option<String>,
}

fn bearer() -> String {
    "Bearer".to_string()
}

/// `authorization:`: an `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme; `Bearer`.
    #[serde(default = "bearer", rename = "type")]
    pub kind: String,
    /// The credentials.
    #[serde(default)]
    pub credentials: Secret,
    /// File holding the credentials (read at every scrape, surrounding whitespace trimmed).
    #[serde(default)]
    pub credentials_file: Option<String>,
}

/// Checks the authentication settings of job `job`.
pub(crate) fn validate(
    job: &str,
    basic: Option<&BasicAuth>,
    authz: Option<&Authorization>,
) -> Result<(), ScrapeError> {
    let bad = |msg: String| Err(ScrapeError::InvalidConfig(format!("job {job:?}: {msg}")));
    if basic.is_some() && authz.is_some() {
        return bad("at most one of basic_auth and authorization must be configured".into());
    }
    if let Some(b) = basic {
        if b.username.is_empty() {
            return bad("basic_auth requires a username".into());
        }
        if !b.password.0.is_empty() && b.password_file.is_some() {
            return bad(
                "at most one of basic_auth password and password_file must be configured".into(),
            );
        }
    }
    if let Some(a) = authz {
        if a.kind.eq_ignore_ascii_case("basic") {
            return bad(
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into(),
            );
        }
        if a.kind.is_empty() || a.kind.contains(char::is_whitespace) {
            return bad(format!("invalid authorization type {:?}", a.kind));
        }
        if !a.credentials.0.is_empty() && a.credentials_file.is_some() {
            return bad(
                "at most one of authorization credentials and credentials_file must be configured"
                    .into(),
            );
        }
    }
    Ok(())
}

/// How a loop authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScrapeAuth {
    /// No authentication.
    None,
    /// Basic authentication.
    Basic(BasicAuth),
    /// An `Authorization` header.
    Header(Authorization),
}

impl ScrapeAuth {
    /// From the job's settings.
    pub fn from_config(basic: Option<&BasicAuth>, authz: Option<&Authorization>) -> Self {
        match (basic, authz) {
            (Some(b), _) => ScrapeAuth::Basic(b.clone()),
            (None, Some(a)) => ScrapeAuth::Header(a.clone()),
            (None, None) => ScrapeAuth::None,
        }
    }

    /// The `Authorization` header value, reading secret files now.
    pub async fn header(&self) -> Result<Option<String>, ScrapeError> {
        match self {
            ScrapeAuth::None => Ok(None),
            ScrapeAuth::Basic(b) => {
                let password = match &b.password_file {
                    Some(path) => read_secret(path).await?,
                    None => b.password.0.clone(),
                };
                let raw = format!("{}:{password}", b.username);
                Ok(Some(format!(
                    "Basic {}",
                    oxeye_proto::base64::encode(raw.as_bytes())
                )))
            }
            ScrapeAuth::Header(a) => {
                let credentials = match &a.credentials_file {
                    Some(path) => read_secret(path).await?,
                    None => a.credentials.0.clone(),
                };
                Ok(Some(format!("{} {credentials}", a.kind)))
            }
        }
    }
}

async fn read_secret(path: &str) -> Result<String, ScrapeError> {
    tokio::fs::read_to_string(path)
        .await
        .map(|s| s.trim().to_string())
        .map_err(|e| ScrapeError::Http(format!("unable to read secret file {path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_leak() {
        let b = BasicAuth {
            username: "u".into(),
            password: Secret("hunter2".into()),
            password_file: None,
        };
        assert!(!format!("{b:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&b).unwrap().contains("hunter2"));
    }

    #[test]
    fn validation() {
        let b = BasicAuth {
            username: "u".into(),
            password: Secret("p".into()),
            password_file: Some("/f".into()),
        };
        let e = validate("j", Some(&b), None).unwrap_err().to_string();
        assert!(
            e.contains("at most one of basic_auth password and password_file"),
            "{e}"
        );
        let a = Authorization {
            kind: "Basic".into(),
            credentials: Secret("x".into()),
            credentials_file: None,
        };
        let e = validate("j", None, Some(&a)).unwrap_err().to_string();
        assert!(e.contains("use \"basic_auth\" instead"), "{e}");
        let ok = Authorization {
            kind: "Bearer".into(),
            ..a
        };
        assert!(validate("j", None, Some(&ok)).is_ok());
        let e = validate(
            "j",
            Some(&BasicAuth {
                password_file: None,
                ..b
            }),
            Some(&ok),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("at most one of basic_auth and authorization"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn headers() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "tok123\n").unwrap();
        let a = ScrapeAuth::Header(Authorization {
            kind: "Bearer".into(),
            credentials: Secret::default(),
            credentials_file: Some(f.display().to_string()),
        });
        assert_eq!(a.header().await.unwrap().as_deref(), Some("Bearer tok123"));
        let b = ScrapeAuth::Basic(BasicAuth {
            username: "Aladdin".into(),
            password: Secret("open sesame".into()),
            password_file: None,
        });
        assert_eq!(
            b.header().await.unwrap().as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        let missing = ScrapeAuth::Header(Authorization {
            kind: "Bearer".into(),
            credentials: Secret::default(),
            credentials_file: Some("/nonexistent/token".into()),
        });
        assert!(
            missing
                .header()
                .await
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/token")
        );
    }
}
