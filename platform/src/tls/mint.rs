//! Minting a deployment CA and service certificates (feature `mint`): what tests, the local
//! run script and the Compose init service use, so nobody has to set up a CA to try the recipe.
//! Production deployments may bring their own CA instead (`docs/security.md`): any CA works as
//! long as each service's certificate names it as [`super::service_dns_name`] does.

use std::io::Write as _;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::service_dns_name;

/// A CA that can issue service certificates. Its key stays in memory: minting again (a new CA)
/// is how a local deployment gets new certificates.
pub struct Authority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// A service's certificate and private key, PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

impl Authority {
    /// A new self-signed CA (ECDSA P-256) named `name`.
    pub fn new(name: &str) -> Result<Authority, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params);
        let key = KeyPair::generate()?;
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(Authority {
            cert_pem,
            issuer: Issuer::new(params, key),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate for `service` (its name as [`service_dns_name`]), usable as a server and
    /// as a client: every service may be called, and may call.
    pub fn issue(&self, service: &str) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(vec![service_dns_name(service)])?;
        params.distinguished_name.push(DnType::CommonName, service);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// From January 1 of this year to January 1 two years on: a year or more, never for ever.
fn validity(params: &mut CertificateParams) {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    // Mean Gregorian year; off by at most a day near New Year, inside the margin above.
    let year = 1970 + i32::try_from(seconds / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 2, 1, 1);
}

/// Writes a new CA (`ca.pem`) and, for each service, `<service>.pem` and `<service>.key` into
/// `dir`, created private (0700) with every file 0600. The CA's key is not written.
pub fn write_deployment(dir: &Path, services: &[&str]) -> std::io::Result<()> {
    let authority = Authority::new("rss-recipe deployment CA").map_err(std::io::Error::other)?;
    create_private_dir(dir)?;
    write_private(&dir.join("ca.pem"), authority.cert_pem())?;
    for service in services {
        let issued = authority.issue(service).map_err(std::io::Error::other)?;
        write_private(&dir.join(format!("{service}.pem")), &issued.cert_pem)?;
        write_private(&dir.join(format!("{service}.key")), &issued.key_pem)?;
    }
    Ok(())
}

/// Creates `dir` (and missing parents) and makes it 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `text` to `path`, readable by its owner only (0600) from the moment it exists.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // An existing file keeps its mode on open: narrow it too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
