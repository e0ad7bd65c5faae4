//! AWS Signature Version 4 for Amazon OpenSearch Service and Elasticsearch domains (service
//! `es`) and OpenSearch Serverless (`aoss`, which also wants `x-amz-content-sha256`). Signing
//! is the aws-sigv4 crate's; this module finds the credentials and turns a request into the
//! headers to add.
//!
//! Credentials, first found wins: the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, profile from the configuration,
//! `AWS_PROFILE`, or `default`); the EC2 instance metadata service (IMDSv2), refreshed before
//! the role's credentials expire.
//!
//! Not here: assuming roles (STS), SSO, container credentials.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub region: String,
    /// `es` (managed domains) or `aoss` (OpenSearch Serverless).
    pub service: String,
    /// The shared-file profile; `None`: `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
}

/// A set of credentials and, for temporary ones, when they end.
#[derive(Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub expires: Option<SystemTime>,
    /// Where they came from (for messages; never the secret).
    pub source: &'static str,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds").field("access_key_id", &self.access_key_id).field("source", &self.source).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS credentials: none in the environment, in {file} (profile {profile}), or from the instance metadata service")]
    NoCredentials { file: String, profile: String },
    #[error("signing: {0}")]
    Sign(String),
}

/// Signs requests with credentials found once and refreshed when they expire.
#[derive(Debug)]
pub struct AwsSigner {
    cfg: AwsConfig,
    cached: Mutex<Option<Creds>>,
}

impl AwsSigner {
    pub fn new(cfg: AwsConfig) -> AwsSigner {
        AwsSigner { cfg, cached: Mutex::new(None) }
    }

    /// Current credentials (found again five minutes before temporary ones end).
    pub fn credentials(&self) -> Result<Creds, AwsError> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |c: &Creds| c.expires.is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300));
        if let Some(c) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let c = find_credentials(self.cfg.profile.as_deref())?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// The headers that sign this request (to be added to it as they are).
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, AwsError> {
        let creds = self.credentials()?;
        let scope =
            Scope { region: &self.cfg.region, service: &self.cfg.service, content_sha256: self.cfg.service == "aoss" };
        sign_request(&creds, &scope, SystemTime::now(), method, url, headers, body)
    }
}

/// Where a signature is valid, and whether it also carries the body's hash as a header
/// (`x-amz-content-sha256`, which OpenSearch Serverless requires).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub content_sha256: bool,
}

/// SigV4 headers for one request at `time`.
pub fn sign_request(
    creds: &Creds,
    scope: &Scope<'_>,
    time: SystemTime,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<(String, String)>, AwsError> {
    let identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        creds.expires,
        "iotw",
    )
    .into();
    let mut settings = SigningSettings::default();
    if scope.content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| AwsError::Sign(e.to_string()))?
        .into();
    let request = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body))
        .map_err(|e| AwsError::Sign(e.to_string()))?;
    let (instructions, _) = sign(request, &params).map_err(|e| AwsError::Sign(e.to_string()))?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

fn find_credentials(profile: Option<&str>) -> Result<Creds, AwsError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Creds {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
            expires: None,
            source: "environment",
        });
    }
    let file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").or_else(|| env("USERPROFILE")).map(|h| PathBuf::from(h).join(".aws/credentials")));
    let profile = profile.map(str::to_owned).or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into());
    if let Some(c) =
        file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()).and_then(|t| profile_creds(&t, &profile))
    {
        return Ok(c);
    }
    if env("AWS_EC2_METADATA_DISABLED").as_deref() != Some("true") {
        if let Some(c) = imds_creds() {
            return Ok(c);
        }
    }
    Err(AwsError::NoCredentials {
        file: file.map(|f| f.display().to_string()).unwrap_or_else(|| "~/.aws/credentials".into()),
        profile,
    })
}

/// The keys of `[profile]` in a shared credentials file (INI).
pub fn profile_creds(text: &str, profile: &str) -> Option<Creds> {
    let mut section = String::new();
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') || t.is_empty() {
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim().to_owned();
            continue;
        }
        if section != profile {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else { continue };
        let v = v.trim().to_owned();
        match k.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => id = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    Some(Creds {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
        expires: None,
        source: "shared credentials file",
    })
}

/// The instance role's credentials from IMDSv2 (a second at most: off EC2 nothing answers).
fn imds_creds() -> Option<Creds> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(1)))
        .http_status_as_error(true)
        .build()
        .into();
    let base = "http://169.254.169.254/latest";
    let token = agent
        .put(&format!("{base}/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
        .send_empty()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    let get = |path: &str| -> Option<String> {
        agent
            .get(&format!("{base}{path}"))
            .header("X-aws-ec2-metadata-token", &token)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()
    };
    let role = get("/meta-data/iam/security-credentials/")?;
    let role = role.lines().next()?.trim().to_owned();
    let v: serde_json::Value =
        serde_json::from_str(&get(&format!("/meta-data/iam/security-credentials/{role}"))?).ok()?;
    let expires = v
        .get("Expiration")
        .and_then(|e| e.as_str())
        .and_then(|e| iotw_event::parse_time(e, 0).ok())
        .and_then(|ns| SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(u64::try_from(ns).ok()?)));
    Some(Creds {
        access_key_id: v.get("AccessKeyId")?.as_str()?.to_owned(),
        secret_access_key: v.get("SecretAccessKey")?.as_str()?.to_owned(),
        session_token: v.get("Token").and_then(|t| t.as_str()).map(str::to_owned),
        expires,
        source: "instance metadata",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One case of AWS's SigV4 test suite (testdata/aws-sigv4, from the aws-sigv4 crate's
    /// copy of awslabs/aws-c-auth's suite): the request, its context, and the signed request.
    fn suite_case(name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/aws-sigv4").join(name);
        let ctx: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
        let request = std::fs::read_to_string(dir.join("request.txt")).unwrap();
        let (head, body) = request.split_once("\n\n").unwrap_or((request.as_str(), ""));
        let mut lines = head.lines();
        let start: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let (method, target) = (start[0], start[1]);
        let mut headers: Vec<(String, String)> = Vec::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.to_owned(), v.to_owned()));
            } else if let Some(last) = headers.last_mut() {
                // A folded line continues the previous header.
                last.1.push('\n');
                last.1.push_str(l);
            }
        }
        let host = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).unwrap().1.clone();
        let url = format!("https://{host}{target}");
        let creds = Creds {
            access_key_id: ctx["credentials"]["access_key_id"].as_str().unwrap().into(),
            secret_access_key: ctx["credentials"]["secret_access_key"].as_str().unwrap().into(),
            session_token: ctx["credentials"]["token"].as_str().map(str::to_owned),
            expires: None,
            source: "test",
        };
        let ns = iotw_event::parse_time(ctx["timestamp"].as_str().unwrap(), 0).unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_nanos(ns as u64);
        let scope = Scope {
            region: ctx["region"].as_str().unwrap(),
            service: ctx["service"].as_str().unwrap(),
            content_sha256: ctx["sign_body"] == true,
        };
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let got = sign_request(&creds, &scope, time, method, &url, &hs, body.as_bytes()).unwrap();
        let signed = std::fs::read_to_string(dir.join("header-signed-request.txt")).unwrap();
        let want = |name: &str| {
            signed.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.to_owned())
            })
        };
        let have = |name: &str| got.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        assert_eq!(have("authorization"), want("authorization"), "{name}");
        assert_eq!(have("x-amz-date"), want("x-amz-date"), "{name}");
        assert_eq!(have("x-amz-security-token"), want("x-amz-security-token"), "{name}");
        assert_eq!(have("x-amz-content-sha256"), want("x-amz-content-sha256"), "{name}");
    }

    #[test]
    fn signatures_match_the_aws_test_suite() {
        for case in [
            "get-vanilla",
            "post-vanilla",
            "get-vanilla-query-order-key-case",
            "get-vanilla-with-session-token",
            "post-header-key-case",
            "get-header-value-trim",
            "post-x-www-form-urlencoded",
        ] {
            suite_case(case);
        }
    }

    #[test]
    fn a_profile_is_read_from_a_shared_credentials_file() {
        let text = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n# other\n[ops]\n\
                    aws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token = T2\n";
        let d = profile_creds(text, "default").unwrap();
        assert_eq!((d.access_key_id.as_str(), d.secret_access_key.as_str(), d.session_token), ("A1", "S1", None));
        let o = profile_creds(text, "ops").unwrap();
        assert_eq!(o.session_token.as_deref(), Some("T2"));
        assert!(profile_creds(text, "missing").is_none());
        assert!(!format!("{o:?}").contains("S2"), "secrets stay out of Debug");
    }
}
