//! [`atomic_write`]: replace a file so that a crash at any moment leaves
//! either its old content or the complete new content, never a torn file.
//!
//! Weights files ([`crate::serialize::save`]) and training checkpoints
//! (`nn-train`) both go through it; it lives here, in the lowest crate that
//! writes files, so there is one implementation.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes the temporary files of concurrent writes from one process
/// (the process id alone would let two threads share a temporary file).
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that `path` always holds either its old
/// content or the complete new content: the data goes to a temporary file
/// in the same directory (so the rename never crosses file systems), is
/// flushed to disk (`fsync`), then renamed over `path` (rename is atomic on
/// POSIX file systems), and finally the directory is synced so the rename
/// itself survives a power cut.
///
/// On error the temporary file is removed and `path` is untouched. A process
/// killed mid-write may leave a hidden `.NAME.tmpPID-N` file behind, never a
/// partial `path`.
///
/// ```
/// let path = std::env::temp_dir().join(format!("nn-atomic-doc-{}.txt", std::process::id()));
/// nn_layers::atomic_write(&path, b"old").unwrap();
/// nn_layers::atomic_write(&path, b"new").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"new");
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn atomic_write(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("atomic_write: path {} has no file name", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Best effort: some platforms cannot open or sync a directory.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nn-atomic-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = scratch("replace");
        let path = dir.join("w.bin");
        atomic_write(&path, b"first").unwrap();
        atomic_write(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["w.bin"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A failed write (here: the target is a directory, so the rename
    /// fails) leaves the target as it was and removes its temporary file.
    #[test]
    fn failed_write_cleans_up() {
        let dir = scratch("fail");
        let target = dir.join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"kept").unwrap();
        assert!(atomic_write(&target, b"new").is_err());
        assert_eq!(fs::read(target.join("inside")).unwrap(), b"kept");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "a temporary file was left behind"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writes_to_one_path_each_leave_a_whole_file() {
        let dir = scratch("threads");
        let path = dir.join("w.bin");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        atomic_write(path, &vec![t; 10_000]).unwrap();
                    }
                });
            }
        });
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 10_000);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "a torn file");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
