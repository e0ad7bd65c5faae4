//! TLS for the plain-socket senders (Logstash's beats and tcp inputs): a client configuration
//! built once from the settings (trusted roots, optional client certificate), and a stream that
//! is either a bare TCP socket or one wrapped in TLS. The Elasticsearch client has its own TLS,
//! through its HTTP library.
//!
//! Server certificates are verified against the Mozilla roots (webpki-roots) or, when a CA file
//! is given, against the certificates in that file only; the name checked is the host part of
//! `host:port` (a DNS name or an IP address, matched against the certificate's SANs).
//! `insecure_skip_verify` accepts any certificate — still encrypted, but open to an active
//! man in the middle — and the agent says so on every start.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM file of the CA certificates to trust instead of the Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// PEM files of a client certificate chain and its private key, for inputs that require
    /// client authentication (Logstash's `ssl_client_authentication => required`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Accept any server certificate (encrypted, not authenticated).
    pub insecure: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration for `s`; an unreadable or empty file is an error naming it.
pub fn client_config(s: &TlsSettings) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if s.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &s.ca_file {
            Some(path) => {
                let certs = read_certs(path)?;
                let (added, _ignored) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!("{}: no usable CA certificate in it", path.display()));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let config = match &s.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("{}: {e}", cert.display()))?
        }
    };
    Ok(Arc::new(config))
}

fn read_certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

/// A connection to a sender's peer, with or without TLS.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    /// Wraps `tcp` in TLS when `config` is given, checking the certificate against the host part
    /// of `addr`. The handshake itself happens on the first read or write.
    pub fn new(tcp: TcpStream, addr: &str, config: Option<&Arc<ClientConfig>>) -> Result<Conn, String> {
        let Some(config) = config else { return Ok(Conn::Plain(tcp)) };
        let name = ServerName::try_from(host_of(addr).to_owned()).map_err(|e| format!("{addr}: {e}"))?;
        let conn = ClientConnection::new(config.clone(), name).map_err(|e| format!("{addr}: {e}"))?;
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }
}

impl Conn {
    /// The TCP socket underneath.
    fn sock(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    /// Ends a connection that carries no replies (`json_lines`): close_notify under TLS, then
    /// the write side shut, then whatever the peer still sends (TLS 1.3 session tickets) read
    /// and dropped until it closes or `wait` passes. Closing with unread bytes would make the
    /// kernel reset the connection, and a reset can throw away lines the peer has received but
    /// not yet read.
    pub fn close(mut self, wait: Duration) {
        if let Conn::Tls(t) = &mut self {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
        let _ = self.sock().shutdown(Shutdown::Write);
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            if self.sock().set_read_timeout(Some(left)).is_err() {
                return;
            }
            match self.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

/// `host` of `host:port`, `[v6]:port` or a bare host.
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => addr,
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// `insecure_skip_verify`: any certificate passes; handshake signatures are still checked, so
/// the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_takes_the_host_from_host_port_and_bracketed_v6() {
        assert_eq!(host_of("logstash.example:5044"), "logstash.example");
        assert_eq!(host_of("127.0.0.1:5044"), "127.0.0.1");
        assert_eq!(host_of("[::1]:5044"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert_eq!(host_of("bare"), "bare");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope.pem");
        let s = TlsSettings { ca_file: Some(missing.clone()), ..TlsSettings::default() };
        let e = client_config(&s).err().unwrap_or_default();
        assert!(e.contains("nope.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap_or_else(|e| panic!("{e}"));
        let s = TlsSettings { ca_file: Some(empty), ..TlsSettings::default() };
        let e = client_config(&s).err().unwrap_or_default();
        assert!(e.contains("empty.pem") && e.contains("no certificate"), "{e}");
    }

    #[test]
    fn the_default_trusts_the_mozilla_roots_and_insecure_builds() {
        assert!(client_config(&TlsSettings::default()).is_ok());
        assert!(client_config(&TlsSettings { insecure: true, ..TlsSettings::default() }).is_ok());
    }
}
