//! TLS to the database: the modes, the certificate authorities trusted (the Amazon RDS CAs compiled in, plus
//! `DB_EXTRA_CA_BUNDLE`), and what a failed handshake means, in words an operator can act on.
//!
//! There is no silent plaintext: `verify-full` (the default) and `require` never send a login without TLS, and
//! `prefer` falls back only when the server offers no TLS at all — never when a certificate fails — and says so in a
//! warning. All of it is rustls on aws-lc-rs; nothing links OpenSSL.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

pub(crate) use crate::domain::TlsChoice;
use crate::domain::{Target, Timestamp};
/// The Amazon RDS and RDS Proxy certificate authorities; certs/SOURCE.md says where they come from.
pub(crate) const RDS_CA_BUNDLE: &[u8] = include_bytes!("../certs/rds-ca-bundle.pem");

/// The RDS root CAs of the Regions opened after `RDS_CA_BUNDLE`'s source was built, and of GovCloud; each taken
/// from two independent copies with the same fingerprint (certs/ADDITIONS.md).
pub(crate) const RDS_CA_ADDITIONS: &[u8] = include_bytes!("../certs/rds-ca-additions.pem");

/// Every built-in PEM bundle, in the order they are trusted.
pub const BUILT_IN_BUNDLES: [&[u8]; 2] = [RDS_CA_BUNDLE, RDS_CA_ADDITIONS];

/// `DB_TLS_MODE`, for secrets without an `ssl` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS, the chain verified against the trusted CAs, the certificate valid for the secret's host.
    VerifyFull,
    /// TLS, certificate not checked: encrypted, but open to whoever can intercept the connection.
    Require,
    /// As `VerifyFull` when the server offers TLS; plaintext, with a warning, when it offers none.
    Prefer,
    /// Plaintext.
    Disable,
}

/// The operator's TLS settings, which every login's mode comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// `DB_TLS_MODE`: application logins of secrets without an `ssl` key.
    pub default: TlsMode,
    /// `DB_TLS_MINIMUM`: the floor no application login goes below, whatever its secret says.
    pub minimum: TlsMode,
    /// `MASTER_TLS_MODE`: master logins.
    pub master: TlsMode,
}

/// The TLS side of the database drivers: the settings, and client configurations built once, on first use.
pub(crate) struct Tls {
    settings: TlsSettings,
    /// `DB_EXTRA_CA_BUNDLE`'s PEM, checked at start-up.
    extra: Option<Vec<u8>>,
    verified: OnceLock<Result<Arc<ClientConfig>, String>>,
    encrypt_only: OnceLock<Result<Arc<ClientConfig>, String>>,
    /// The trusted CAs' subjects and `notAfter`, read once, when a certificate's dates are first asked for.
    trusted_dates: OnceLock<Vec<(Vec<u8>, Timestamp)>>,
}

impl TlsMode {
    pub fn parse(name: &str) -> Result<TlsMode, String> {
        match name.to_ascii_lowercase().as_str() {
            "verify-full" => Ok(TlsMode::VerifyFull),
            "require" => Ok(TlsMode::Require),
            "prefer" => Ok(TlsMode::Prefer),
            "disable" => Ok(TlsMode::Disable),
            _ => Err(format!("is {name:?}: expected verify-full, require, prefer or disable")),
        }
    }

    /// `DB_TLS_MINIMUM` takes the modes that are a floor: `disable` (none), `require` (never plaintext) and
    /// `verify-full` (never unverified).
    pub fn parse_minimum(name: &str) -> Result<TlsMode, String> {
        match TlsMode::parse(name)? {
            TlsMode::Prefer => Err(format!("is {name:?}: expected disable, require or verify-full")),
            mode => Ok(mode),
        }
    }

    /// This mode, raised to `minimum`. `prefer` raised to `require` becomes `verify-full`: without its plaintext
    /// fallback it verifies whatever TLS the server offers, and lowering that to unverified TLS would weaken it.
    pub fn raised_to(self, minimum: TlsMode) -> TlsMode {
        match (minimum, self) {
            (TlsMode::VerifyFull, _) => TlsMode::VerifyFull,
            (TlsMode::Require, TlsMode::Disable) => TlsMode::Require,
            (TlsMode::Require, TlsMode::Prefer) => TlsMode::VerifyFull,
            (_, mode) => mode,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::VerifyFull => "verify-full",
            TlsMode::Require => "require",
            TlsMode::Prefer => "prefer",
            TlsMode::Disable => "disable",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TlsSettings {
    /// The mode of one login. An application login follows its secret's `ssl` key with the meaning it has for AWS's
    /// templates — `true` demands verified TLS, `false` allows plaintext, absent follows `DB_TLS_MODE` — raised to
    /// `DB_TLS_MINIMUM`; a master login follows `MASTER_TLS_MODE` only.
    pub fn mode_for(&self, choice: TlsChoice) -> TlsMode {
        match choice {
            TlsChoice::Secret(Some(true)) => TlsMode::VerifyFull,
            TlsChoice::Secret(Some(false)) => TlsMode::Disable.raised_to(self.minimum),
            TlsChoice::Secret(None) => self.default.raised_to(self.minimum),
            TlsChoice::Master { verified: true } => TlsMode::VerifyFull,
            TlsChoice::Master { verified: false } => self.master,
        }
    }
}

impl Tls {
    pub(crate) fn new(settings: TlsSettings, extra: Option<Vec<u8>>) -> Tls {
        Tls {
            settings,
            extra,
            verified: OnceLock::new(),
            encrypt_only: OnceLock::new(),
            trusted_dates: OnceLock::new(),
        }
    }

    /// The mode of one login (see `TlsSettings::mode_for`).
    pub(crate) fn mode_for(&self, choice: TlsChoice) -> TlsMode {
        self.settings.mode_for(choice)
    }

    /// The rustls configuration: verifying (`verify-full`, `prefer`) or encrypting only (`require`).
    pub(crate) fn client_config(&self, verify: bool) -> Result<Arc<ClientConfig>, String> {
        let cell = if verify { &self.verified } else { &self.encrypt_only };
        cell.get_or_init(|| self.build(verify)).clone()
    }

    /// `DB_EXTRA_CA_BUNDLE`'s PEM, for drivers that take PEM (with `RDS_CA_BUNDLE`).
    pub(crate) fn extra_pem(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    fn build(&self, verify: bool) -> Result<Arc<ClientConfig>, String> {
        let started = std::time::Instant::now();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS set-up: {err}"))?;
        let provider_us = started.elapsed().as_micros();
        let config = if verify {
            let mut roots = RootCertStore::empty();
            for bundle in BUILT_IN_BUNDLES {
                roots.add_parsable_certificates(parse_bundle(bundle)?);
            }
            if let Some(extra) = &self.extra {
                roots.add_parsable_certificates(parse_bundle(extra)?);
            }
            let anchors = roots.len();
            let config = builder.with_root_certificates(roots).with_no_client_auth();
            tracing::debug!(
                anchors,
                provider_us,
                total_us = started.elapsed().as_micros(),
                "TLS client configuration built"
            );
            config
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}

/// The certificates of a PEM bundle; an error names what is wrong with it.
pub(crate) fn parse_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|err| format!("is not a PEM certificate bundle ({err})"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".to_owned());
    }
    Ok(certs)
}

/// What a failed TLS handshake with `at` means, if `err` (or anything in its chain) is one.
pub(crate) fn explain(err: &(dyn std::error::Error + 'static), tls: &Tls, at: &Target) -> Option<String> {
    let mut current = Some(err);
    let found = loop {
        let err = current?;
        if let Some(found) = err.downcast_ref::<rustls::Error>() {
            break found;
        }
        let inner = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        if let Some(found) = inner.and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            break found;
        }
        current = err.source();
    };
    let trusted =
        if tls.extra.is_some() { "the built-in RDS bundle or DB_EXTRA_CA_BUNDLE" } else { "the built-in RDS bundle" };
    Some(match found {
        rustls::Error::InvalidCertificate(err) => certificate_problem(err, trusted, at),
        other => format!("TLS handshake failed: {other}"),
    })
}

/// Which name the certificate was checked against, and why that one: the secret's `tlsServerName` names it in
/// place of the host, and an operator must see which.
fn name_checked(expected: &str, at: &Target) -> String {
    match &at.tls_server_name {
        Some(_) => format!("{expected}, the secret's tlsServerName (checked in place of its host {})", at.host),
        None => format!("the secret's host {expected}"),
    }
}

/// Why the server's certificate was refused, in a sentence.
fn certificate_problem(err: &CertificateError, trusted: &str, at: &Target) -> String {
    match err {
        CertificateError::UnknownIssuer => format!(
            "untrusted certificate chain: no CA in {trusted} issued the server's certificate (for a Region or server \
             the bundle lacks, add its CA with DB_EXTRA_CA_BUNDLE)"
        ),
        CertificateError::NotValidForNameContext { expected, presented } => format!(
            "hostname mismatch: the server's certificate is valid for {}, not for {}",
            if presented.is_empty() { "no host name".to_owned() } else { presented.join(", ") },
            name_checked(&expected.to_str(), at)
        ),
        CertificateError::NotValidForName => {
            format!(
                "hostname mismatch: the server's certificate is not valid for {}",
                name_checked(at.server_name(), at)
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "expired certificate: the server's certificate is past its validity".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet (check the server's and this machine's clocks)".to_owned()
        }
        CertificateError::BadEncoding => "the server's certificate is malformed".to_owned(),
        CertificateError::Revoked => "the server's certificate is revoked".to_owned(),
        CertificateError::BadSignature => {
            "the signature on the server's certificate does not verify against its issuer".to_owned()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "the server's certificate is signed with an algorithm this function does not accept".to_owned()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the server's certificate is not for TLS server authentication (its extended key usage)".to_owned()
        }
        CertificateError::UnhandledCriticalExtension => {
            "the server's certificate has a critical extension this function does not handle".to_owned()
        }
        CertificateError::Other(other) => {
            // rustls passes webpki's reasons on by name.
            let name = other.to_string();
            match name.as_str() {
                "CaUsedAsEndEntity" => "the server presents a CA certificate as its own: it must present a server \
                                        certificate issued by that CA"
                    .to_owned(),
                "EndEntityUsedAsCa" => "the server's chain uses a server certificate as a CA".to_owned(),
                "CertDistrusted" => "the server's certificate chains to a CA that is no longer trusted".to_owned(),
                "NameConstraintViolation" | "PathLenConstraintViolated" => {
                    "the server's certificate breaks a constraint its CA sets".to_owned()
                }
                "UnsupportedCertVersion" => "the server's certificate is not an X.509 v3 certificate".to_owned(),
                "UnsupportedCriticalExtension" => {
                    "the server's certificate has a critical extension this function does not handle".to_owned()
                }
                _ if name.starts_with("Maximum") => {
                    "the server's certificate chain is too long or too complex to verify".to_owned()
                }
                _ => format!("the server's certificate is refused ({name})"),
            }
        }
        other => format!("the server's certificate is refused ({other})"),
    }
}

/// When a server's certificate and the CA it chains to stop being valid (`status --verify`, `check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateDates {
    /// The server certificate's `notAfter`.
    pub server: Timestamp,
    /// The earliest `notAfter` of the CAs above it: the intermediates the server sent, and the trusted root.
    pub ca: Option<Timestamp>,
}

/// The dates of a verified chain as the server sent it (`chain[0]` its own certificate); the root comes from the
/// function's trust (the built-in RDS CAs and `DB_EXTRA_CA_BUNDLE`).
pub(crate) fn chain_dates(chain: &[CertificateDer<'_>], tls: &Tls) -> Option<CertificateDates> {
    let server = certificate_fields(chain.first()?)?;
    let mut ca: Option<Timestamp> = None;
    let mut earliest = |not_after: Timestamp| ca = Some(ca.map_or(not_after, |t| t.min(not_after)));
    let mut top = server;
    for cert in &chain[1..] {
        if let Some(fields) = certificate_fields(cert) {
            earliest(fields.not_after);
            top = fields;
        }
    }
    if top.issuer != top.subject {
        let trusted = tls.trusted_dates.get_or_init(|| {
            let bundles = BUILT_IN_BUNDLES.iter().copied().chain(tls.extra_pem());
            let certs = bundles.flat_map(|bundle| parse_bundle(bundle).unwrap_or_default());
            certs.filter_map(|cert| certificate_fields(&cert).map(|f| (f.subject.to_vec(), f.not_after))).collect()
        });
        if let Some((_, not_after)) = trusted.iter().find(|(subject, _)| subject.as_slice() == top.issuer) {
            earliest(*not_after);
        }
    }
    Some(CertificateDates { server: server.not_after, ca })
}

/// What `chain_dates` reads of one certificate.
#[derive(Clone, Copy)]
struct Fields<'a> {
    issuer: &'a [u8],
    subject: &'a [u8],
    not_after: Timestamp,
}

/// The issuer, subject (as DER, for matching) and `notAfter` of an X.509 certificate; `None` where the DER is not
/// the shape RFC 5280 gives it.
fn certificate_fields(der: &[u8]) -> Option<Fields<'_>> {
    let certificate = der_element(der)?;
    let tbs = der_element(certificate.content)?;
    if certificate.tag != 0x30 || tbs.tag != 0x30 {
        return None;
    }
    let mut rest = tbs.content;
    let mut next = || -> Option<Der<'_>> {
        let element = der_element(rest)?;
        rest = element.rest;
        Some(element)
    };
    let mut element = next()?;
    if element.tag == 0xa0 {
        element = next()?; // [0] version
    }
    let _serial = element;
    let _signature = next()?;
    let issuer = next()?.whole;
    let validity = next()?.content;
    let subject = next()?.whole;
    let not_after = der_element(der_element(validity)?.rest)?;
    let (time_tag, not_after) = (not_after.tag, not_after.content);
    let text = std::str::from_utf8(not_after).ok()?;
    let full = match (time_tag, text.len()) {
        // UTCTime: YYMMDDHHMMSSZ, years 1950 to 2049 (RFC 5280, 4.1.2.5.1).
        (0x17, 13) => {
            let century = if text[..2].parse::<u8>().ok()? >= 50 { "19" } else { "20" };
            format!("{century}{text}")
        }
        // GeneralizedTime: YYYYMMDDHHMMSSZ.
        (0x18, 15) => text.to_owned(),
        _ => return None,
    };
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &full[0..4],
        &full[4..6],
        &full[6..8],
        &full[8..10],
        &full[10..12],
        &full[12..14]
    );
    Some(Fields { issuer, subject, not_after: Timestamp::parse(&iso)? })
}

/// One DER element: its tag, its content, the whole element, and what follows it.
struct Der<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
    rest: &'a [u8],
}

fn der_element(input: &[u8]) -> Option<Der<'_>> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let bytes = input.get(2..2 + count)?;
        (bytes.iter().fold(0usize, |length, b| length << 8 | usize::from(*b)), 2 + count)
    };
    let end = header.checked_add(length)?;
    let content = input.get(header..end)?;
    Some(Der { tag, content, whole: &input[..end], rest: &input[end..] })
}

/// `require`: the handshake's signatures are checked, the certificate is not.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFY: TlsMode = TlsMode::VerifyFull;

    #[test]
    fn every_built_in_certificate_is_a_trust_anchor() {
        let certs: Vec<_> = BUILT_IN_BUNDLES.iter().flat_map(|bundle| parse_bundle(bundle).unwrap()).collect();
        assert_eq!(certs.len(), 120 + 27);
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(certs);
        assert_eq!((added, ignored), (147, 0));
    }

    #[test]
    fn modes() {
        for mode in [TlsMode::VerifyFull, TlsMode::Require, TlsMode::Prefer, TlsMode::Disable] {
            assert_eq!(TlsMode::parse(mode.as_str()), Ok(mode));
        }
        assert_eq!(TlsMode::parse("VERIFY-FULL"), Ok(TlsMode::VerifyFull));
        assert!(TlsMode::parse("allow").is_err());
        assert!(TlsMode::parse_minimum("prefer").is_err());
        let settings = |default, minimum| TlsSettings { default, minimum, master: TlsMode::VerifyFull };
        let tls = Tls::new(settings(TlsMode::Prefer, TlsMode::Disable), None);
        assert_eq!(tls.mode_for(TlsChoice::Secret(Some(true))), TlsMode::VerifyFull);
        assert_eq!(tls.mode_for(TlsChoice::Secret(Some(false))), TlsMode::Disable);
        assert_eq!(tls.mode_for(TlsChoice::Secret(None)), TlsMode::Prefer);
        assert_eq!(tls.mode_for(TlsChoice::Master { verified: false }), TlsMode::VerifyFull);
        let tls = Tls::new(settings(TlsMode::Disable, TlsMode::Disable), None);
        assert_eq!(tls.mode_for(TlsChoice::Secret(Some(true))), TlsMode::VerifyFull);
    }

    /// The operator's floor wins over every secret: `ssl: false` cannot lower it, and the master's mode is the
    /// operator's alone.
    #[test]
    fn a_secret_cannot_go_below_the_minimum() {
        let check = |minimum, default, ssl, expected| {
            let settings = TlsSettings { default, minimum, master: TlsMode::Disable };
            assert_eq!(settings.mode_for(TlsChoice::Secret(ssl)), expected, "{minimum} {default} {ssl:?}");
        };
        use TlsMode::*;
        check(Require, VerifyFull, Some(false), Require);
        check(Require, Disable, None, Require);
        check(Require, Prefer, None, VerifyFull);
        check(Require, Require, Some(true), VerifyFull);
        check(VerifyFull, Disable, Some(false), VerifyFull);
        check(VerifyFull, Require, None, VerifyFull);
        check(Disable, Prefer, Some(false), Disable);
        let master_only = TlsSettings { default: Disable, minimum: Disable, master: VerifyFull };
        assert_eq!(master_only.mode_for(TlsChoice::Master { verified: false }), VerifyFull);
        let trusting = TlsSettings { default: Disable, minimum: Disable, master: Disable };
        assert_eq!(trusting.mode_for(TlsChoice::Master { verified: false }), Disable);
        assert_eq!(
            trusting.mode_for(TlsChoice::Master { verified: true }),
            VerifyFull,
            "the master secret may raise it"
        );
    }

    #[test]
    fn both_client_configurations_build() {
        let tls = Tls::new(TlsSettings { default: VERIFY, minimum: TlsMode::Disable, master: VERIFY }, None);
        assert!(tls.client_config(true).is_ok());
        assert!(tls.client_config(false).is_ok());
        assert!(Arc::ptr_eq(&tls.client_config(true).unwrap(), &tls.client_config(true).unwrap()), "built once");
    }

    #[test]
    fn bad_bundles_are_named() {
        assert!(parse_bundle(b"").unwrap_err().contains("no PEM certificate"));
        assert!(parse_bundle(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
    }

    fn target(host: &str, tls_server_name: Option<&str>) -> Target {
        Target {
            engine: crate::domain::EngineKind::Postgres,
            host: host.to_owned(),
            port: 5432,
            dbname: None,
            tls: TlsChoice::Secret(None),
            tls_server_name: tls_server_name.map(str::to_owned),
        }
    }

    #[test]
    fn explains_certificate_failures() {
        let tls = Tls::new(TlsSettings { default: VERIFY, minimum: TlsMode::Disable, master: VERIFY }, None);
        let at = target("db.example.com", None);
        let check = |err: rustls::Error, expected: &str| {
            let io = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
            let text = explain(&io, &tls, &at).unwrap();
            assert!(text.contains(expected), "{text}");
        };
        check(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer), "untrusted certificate chain");
        check(rustls::Error::InvalidCertificate(CertificateError::NotValidForName), "hostname mismatch");
        check(rustls::Error::InvalidCertificate(CertificateError::Expired), "expired certificate");
        check(rustls::Error::InvalidCertificate(CertificateError::NotValidYet), "not valid yet");
        // What a user met: a server configured with its CA's certificate as its own.
        #[derive(Debug)]
        struct Webpki(&'static str);
        impl std::fmt::Display for Webpki {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Webpki {}
        let other = |name| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(Webpki(name)))))
        };
        check(other("CaUsedAsEndEntity"), "presents a CA certificate as its own");
        check(other("MaximumPathDepthExceeded"), "too long");
        check(other("SomethingNew"), "certificate is refused (SomethingNew)");
        let name = rustls::pki_types::ServerName::try_from("db.example.com").unwrap();
        let presented = vec!["other.example.com".to_owned()];
        let mismatch = CertificateError::NotValidForNameContext { expected: name, presented };
        check(
            rustls::Error::InvalidCertificate(mismatch),
            "valid for other.example.com, not for the secret's host db.example.com",
        );
        for err in [CertificateError::BadEncoding, CertificateError::Revoked, CertificateError::BadSignature] {
            let text = explain(
                &std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(err)),
                &tls,
                &at,
            )
            .unwrap();
            assert!(!text.contains("Error") && text.contains("server's certificate"), "{text}");
        }
        assert_eq!(explain(&std::io::Error::other("refused"), &tls, &at), None);
    }

    /// With a `tlsServerName`, a mismatch names the name that was checked, says it came from that key, and names
    /// the host it stood in for.
    #[test]
    fn a_mismatch_names_the_tls_server_name_checked() {
        let tls = Tls::new(TlsSettings { default: VERIFY, minimum: TlsMode::Disable, master: VERIFY }, None);
        let at = target("10.0.0.7", Some("db.example.com"));
        let name = rustls::pki_types::ServerName::try_from("db.example.com").unwrap();
        let mismatch = CertificateError::NotValidForNameContext { expected: name, presented: vec!["localhost".into()] };
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(mismatch));
        assert_eq!(
            explain(&io, &tls, &at).unwrap(),
            "hostname mismatch: the server's certificate is valid for localhost, not for db.example.com, the \
             secret's tlsServerName (checked in place of its host 10.0.0.7)"
        );
        let bare = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        let text = explain(&std::io::Error::new(std::io::ErrorKind::InvalidData, bare), &tls, &at).unwrap();
        assert!(text.contains("not valid for db.example.com, the secret's tlsServerName"), "{text}");
    }

    /// Every built-in CA certificate's dates and names, read by the small DER reader, agree with x509-cert's.
    #[test]
    fn reads_certificate_dates_as_x509_cert_does() {
        use x509_cert::der::{Decode, Encode};
        let mut count = 0;
        for bundle in BUILT_IN_BUNDLES {
            for der in parse_bundle(bundle).unwrap() {
                let fields = certificate_fields(&der).expect("a certificate's fields");
                let cert = x509_cert::Certificate::from_der(&der).unwrap();
                let not_after = cert.tbs_certificate.validity.not_after.to_unix_duration().as_secs();
                assert_eq!(fields.not_after.unix(), i64::try_from(not_after).unwrap());
                assert_eq!(fields.subject, cert.tbs_certificate.subject.to_der().unwrap().as_slice());
                assert_eq!(fields.issuer, cert.tbs_certificate.issuer.to_der().unwrap().as_slice());
                count += 1;
            }
        }
        assert!(count > 100, "{count}");
        assert!(certificate_fields(b"").is_none());
        assert!(certificate_fields(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(certificate_fields(&[0x30, 0x03, 0x30, 0x01, 0x02]).is_none());
    }
}
