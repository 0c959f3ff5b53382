//! Noticing that a service's configuration files changed: an inotify watch on their directory
//! (Archaius polled), filtered to the service's own files and debounced, so one save is one
//! reload.

use std::ffi::OsString;
use std::time::Duration;

use notify::Watcher;
use tokio::sync::mpsc;

use super::Source;

/// File events arriving within this quiet period are one change: editors write a file in
/// several steps (truncate, write, rename), and reloading a half-written file would only
/// produce a spurious "invalid configuration" line.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Changes to one source's files, as they happen.
#[derive(Debug)]
pub(super) struct FileChanges {
    /// Watches while it lives.
    _watcher: notify::RecommendedWatcher,
    events: mpsc::UnboundedReceiver<()>,
}

impl FileChanges {
    /// Watches the directory (not the files: editors replace files by renaming, which would
    /// end a watch on the file itself), reporting events on `source`'s files only. Fails, with
    /// the reason, when the directory is missing or cannot be watched.
    pub(super) fn watch(source: &Source) -> Result<FileChanges, String> {
        let dir = source.dir();
        if !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        let names: Vec<OsString> = source
            .files()
            .iter()
            .filter_map(|file| file.file_name().map(ToOwned::to_owned))
            .collect();
        let (sender, events) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if changes_our_files(&event, &names) {
                    let _ = sender.send(());
                }
            })
            .map_err(|error| error.to_string())?;
        watcher
            .watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|error| format!("cannot watch {}: {error}", dir.display()))?;
        Ok(FileChanges {
            _watcher: watcher,
            events,
        })
    }

    /// Resolves once the files changed and then stayed quiet for a moment, however many
    /// events the save produced; `None` when the watch has ended.
    pub(super) async fn next(&mut self) -> Option<()> {
        self.events.recv().await?;
        while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, self.events.recv()).await {}
        Some(())
    }
}

/// Whether a watch event may have changed one of our files (`names`). Reads are no change:
/// every reload reads the files, and counting its own access events would reload forever.
fn changes_our_files(event: &notify::Result<notify::Event>, names: &[OsString]) -> bool {
    match event {
        Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => false,
        Ok(event) => event.paths.iter().any(|path| {
            path.file_name()
                .is_some_and(|name| names.iter().any(|ours| ours == name))
        }),
        // A lost event (queue overflow) may have been ours: reload to be sure.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn only_changes_to_our_files_trigger_a_reload() {
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
        use notify::{Event, EventKind};
        let names = vec!["edge.toml".into(), "edge.test.toml".into()];
        let ours = PathBuf::from("/etc/rss/edge.test.toml");
        let event = |kind| Ok(Event::new(kind).add_path(ours.clone()));
        assert!(changes_our_files(
            &event(EventKind::Modify(ModifyKind::Any)),
            &names
        ));
        assert!(changes_our_files(
            &event(EventKind::Modify(ModifyKind::Name(RenameMode::To))),
            &names
        ));
        assert!(changes_our_files(
            &event(EventKind::Create(CreateKind::File)),
            &names
        ));
        // Our own reads at every reload.
        for access in [
            AccessKind::Open(AccessMode::Read),
            AccessKind::Close(AccessMode::Read),
            AccessKind::Read,
        ] {
            assert!(!changes_our_files(
                &event(EventKind::Access(access)),
                &names
            ));
        }
        let theirs = Ok(Event::new(EventKind::Modify(ModifyKind::Any))
            .add_path(PathBuf::from("/etc/rss/middletier.toml")));
        assert!(!changes_our_files(&theirs, &names));
    }
}
