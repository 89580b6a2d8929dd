//! Temporary folders for test servers' data that do not pile up.

use std::fs;
use std::path::Path;

/// A fresh temporary folder for a test server's data, `files-KIND-PID-XXXXXX` under `parent`.
///
/// A server kept in a `static` is never dropped, so its folder outlives the test process; under
/// nextest (a process per test) that would leave one folder per test behind. So the folders
/// of `KIND` whose process is gone are removed first: the PID in the name says whose a folder
/// is, and a folder of a live process is never touched.
pub fn scratch_dir(parent: &Path, kind: &str) -> Result<tempfile::TempDir, String> {
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let prefix = format!("files-{kind}-");
    if let Ok(entries) = fs::read_dir(parent) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split('-').next())
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(parent)
        .map_err(|e| {
            format!(
                "cannot create a temporary folder in {}: {e}",
                parent.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dirs_of_dead_processes_are_swept() {
        let parent = tempfile::tempdir().unwrap();
        // A PID no process has (PIDs stay below /proc/sys/kernel/pid_max, at most 2^22).
        let dead = (1u32 << 22) + 7;
        assert!(!Path::new("/proc").join(dead.to_string()).exists());
        let stale = parent.path().join(format!("files-kind-{dead}-abc"));
        fs::create_dir_all(stale.join("data")).unwrap();
        fs::write(stale.join("data/blob"), b"left behind").unwrap();
        let live = parent
            .path()
            .join(format!("files-kind-{}-xyz", std::process::id()));
        fs::create_dir(&live).unwrap();
        let other_kind = parent.path().join(format!("files-other-{dead}-abc"));
        fs::create_dir(&other_kind).unwrap();
        let not_a_pid = parent.path().join("files-kind-notapid-abc");
        fs::create_dir(&not_a_pid).unwrap();

        let fresh = scratch_dir(parent.path(), "kind").unwrap();
        assert!(!stale.exists(), "the dead process's folder is removed");
        assert!(live.is_dir(), "a live process's folder is kept");
        assert!(
            other_kind.is_dir() && not_a_pid.is_dir(),
            "only KIND-PID folders are swept"
        );
        let name = fresh
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(&format!("files-kind-{}-", std::process::id())),
            "{name}"
        );
        let path = fresh.path().to_path_buf();
        drop(fresh);
        assert!(!path.exists(), "a dropped scratch folder is removed");
    }
}
