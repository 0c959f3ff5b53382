//! `middletier mint-certs <dir>`: a deployment CA and a certificate per service, for local
//! runs and the Compose file (see `platform::tls::mint`). It lives in this binary, beside
//! `check-feed`, so no extra binary is built or shipped and the edge's build never carries the
//! minting code; a production deployment brings its own CA instead (`docs/security.md`).

use std::path::PathBuf;
use std::process::ExitCode;

pub const USAGE: &str = "\
Usage: middletier mint-certs <dir> [--token] [--if-absent]

Writes a new deployment CA (ca.pem) and, for edge and middletier, <service>.pem and
<service>.key into <dir>, created 0700 with every file 0600. The CA's private key is not kept:
mint again (and restart everything) for new certificates.

  --token      also write service-token: 32 random bytes, base64url, for RSS_API__TOKEN and
               RSS_MIDDLETIER__TOKEN
  --if-absent  do nothing when <dir>/ca.pem exists (an init container run on every start)

Exit status: 0 written (or present), 1 cannot write, 2 bad usage.";

/// The services that get a certificate.
const SERVICES: &[&str] = &["edge", "middletier"];

pub fn run(args: &[String]) -> ExitCode {
    let mut dir = None;
    let (mut token, mut if_absent) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--token" => token = true,
            "--if-absent" => if_absent = true,
            flag if flag.starts_with('-') => return usage(&format!("unknown option '{flag}'")),
            path if dir.is_none() => dir = Some(PathBuf::from(path)),
            _ => return usage("one directory only"),
        }
    }
    let Some(dir) = dir else {
        return usage("the directory is missing");
    };
    if if_absent && dir.join("ca.pem").exists() {
        println!("{}: certificates present, nothing minted", dir.display());
        return ExitCode::SUCCESS;
    }
    let minted = platform::tls::mint::write_deployment(&dir, SERVICES).and_then(|()| {
        if token {
            platform::tls::mint::write_private(&dir.join("service-token"), &new_token()?)
        } else {
            Ok(())
        }
    });
    match minted {
        Ok(()) => {
            println!(
                "{}: minted ca.pem and certificates for {}",
                dir.display(),
                SERVICES.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "middletier mint-certs: cannot write {}: {error}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// 32 bytes from the OS's CSPRNG, base64url without padding (43 characters).
fn new_token() -> std::io::Result<String> {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("the system's random source failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("middletier mint-certs: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}
