//! `middletier export <file|->` and `middletier import <file|->`: moving every reader's data
//! between stores (`middletier::transfer`), with the same settings as the server
//! (`RSS_STORE__*`, `RSS_CASSANDRA__*`).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use middletier::settings::Settings;
use middletier::transfer::{self, ImportLimits};

pub const USAGE: &str = "\
Usage: middletier export <file|-> [--force]
       middletier import <file|->

export writes every account, subscription (in order, with its category and read-up-to
watermark), item mark and starred item of the configured store to <file> (created 0600: it holds
password hashes and is as sensitive as the database; an existing file is refused unless
--force) or to standard output (-). import loads such a file into the configured store through
the same checks as requests; importing twice changes nothing. Sessions are not carried: readers
sign in again. Both print a summary to standard error.

Exit status: 0 done, 1 the store or the file failed (the message names the line), 2 bad usage.";

pub async fn run(command: &str, args: &[String]) -> ExitCode {
    let mut target = None;
    let mut force = false;
    for arg in args {
        match arg.as_str() {
            "--force" if command == "export" => force = true,
            flag if flag.starts_with('-') && flag != "-" => {
                return usage(command, &format!("unknown option '{flag}'"));
            }
            path if target.is_none() => target = Some(path.to_owned()),
            _ => return usage(command, "one file only"),
        }
    }
    let Some(target) = target else {
        return usage(
            command,
            "the file is missing (use - for standard input or output)",
        );
    };
    let settings = match platform::config::load::<Settings>("middletier") {
        Ok(settings) => settings,
        Err(error) => return fail(command, &error.to_string(), 2),
    };
    let store = match transfer::open_store(&settings).await {
        Ok(store) => store,
        Err(error) => return fail(command, &error, 1),
    };
    let result = if command == "export" {
        let out: Box<dyn Write> = if target == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            match create_private(&target, force) {
                Ok(file) => Box::new(file),
                Err(error) => return fail(command, &format!("{target}: {error}"), 1),
            }
        };
        let mut out = BufWriter::new(out);
        transfer::export(store.as_ref(), &mut out, chrono::Utc::now())
            .await
            .map_err(|error| error.to_string())
    } else {
        let input: Box<dyn BufRead> = if target == "-" {
            Box::new(BufReader::new(std::io::stdin().lock()))
        } else {
            match std::fs::File::open(&target) {
                Ok(file) => Box::new(BufReader::new(file)),
                Err(error) => return fail(command, &format!("{target}: {error}"), 1),
            }
        };
        let mut input = input;
        let limits = ImportLimits::for_cap(
            settings.accounts.max_subscriptions_per_user,
            settings.retention.max_items_per_feed,
        );
        transfer::import(store.as_ref(), &mut input, limits)
            .await
            .map_err(|error| format!("{target}: {error}"))
    };
    match result {
        Ok(summary) => {
            let verb = if command == "export" {
                "exported"
            } else {
                "imported"
            };
            eprintln!("middletier {command}: {verb} {summary}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(command, &error, 1),
    }
}

/// The export holds password hashes: readable by its owner only, and never over a file that
/// is there unless asked (`--force`, which also narrows the existing file's permissions).
fn create_private(path: &str, force: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(!force)
        .create(force)
        .truncate(force)
        .mode(0o600)
        .open(path)
        .map_err(|error| {
            if error.kind() == std::io::ErrorKind::AlreadyExists {
                std::io::Error::new(error.kind(), "exists; pass --force to overwrite it")
            } else {
                error
            }
        })?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

fn fail(command: &str, message: &str, status: u8) -> ExitCode {
    eprintln!("middletier {command}: {message}");
    ExitCode::from(status)
}

fn usage(command: &str, problem: &str) -> ExitCode {
    eprintln!("middletier {command}: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}
