//! The conformance suite against `files-sftp` on Debian's OpenSSH `sshd` (started by the test
//! harness, one per test process; see `files_testkit::sshd`), one test per check, each in a
//! fresh root directory, logging in with the test user's password and checking the host key
//! against the harness's `known_hosts` file.
//!
//! What an upload session leaves behind is observed on the server's disk (the tests run on the
//! same machine as `sshd`): the part file `<root>/<key>.fls-part`.
//!
//! Without sshd these tests skip with a loud message, except in CI (`CI=true`), where they
//! fail.

use std::path::Path;

use files_core::Files;
use files_sftp::SftpAdapter;
use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER, SshServer, sshd_or_skip};
use files_testkit::util::FnFixture;

/// An adapter over `root` on the test server, built as a new process would build it.
fn adapter(sshd: &SshServer, root: &str) -> SftpAdapter {
    SftpAdapter::builder()
        .host(sshd.host())
        .port(sshd.port())
        .user(SFTP_USER)
        .password(SFTP_PASSWORD)
        .known_hosts(sshd.known_hosts_path())
        .root(root)
        .build()
        .expect("an SFTP adapter for the test server")
}

/// A fixture over a fresh root, or `None` (after a loud SKIPPED line) without sshd.
fn fixture() -> Option<FnFixture> {
    let sshd = sshd_or_skip()?;
    let root = sshd.new_root("conformance").expect("create a root");
    let r = root.clone();
    Some(
        FnFixture::new("sftp (OpenSSH sshd)", move || Files::new(adapter(sshd, &r)))
            .with_leftovers(move |token| {
                let part = format!("{root}/{}.fls-part", token.key);
                let on_disk = sshd.disk_path(&part);
                Some(if Path::new(&on_disk).exists() {
                    vec![on_disk.display().to_string()]
                } else {
                    vec![]
                })
            }),
    )
}

files_testkit::conformance_tests!(match fixture() {
    Some(f) => f,
    None => return,
});
