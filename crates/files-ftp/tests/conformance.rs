//! The conformance suite against real FTP daemons started by the test harness (see
//! `files_testkit::ftpd`): pyftpdlib (plain FTP and FTPS) and Debian's vsftpd (plain FTP and
//! FTPS), one test per check, each in a fresh root directory.
//!
//! What an upload session leaves behind is observed on the server's disk: the `.fls-part`
//! files under the fixture's root, read directly, not through FTP.
//!
//! Without a daemon these tests skip with a loud message, except in CI (`CI=true`), where they
//! fail.

use files_core::Files;
use files_ftp::{FtpAdapter, Security};
use files_testkit::ftpd::FtpServer;
use files_testkit::util::FnFixture;

/// An adapter over `root` on `server`, built as a new process would build it.
fn adapter(server: &FtpServer, root: &str) -> FtpAdapter {
    let mut b = FtpAdapter::builder(server.host())
        .port(server.port())
        .user(server.user())
        .password(server.password())
        .root(root)
        // vsftpd's FTPS now and then stops answering under parallel load (docs/ftp.md): a
        // short I/O timeout turns that into one retried request.
        .io_timeout(std::time::Duration::from_secs(10));
    if let Some(ca) = server.ca_file() {
        b = b.security(Security::ExplicitTls).ca_file(ca);
    }
    b.build().expect("an FTP adapter for the test server")
}

fn fixture(server: Option<&'static FtpServer>, name: &str) -> Option<FnFixture> {
    let server = server?;
    let root = server.new_root("conformance");
    let r = root.clone();
    Some(
        FnFixture::new(name, move || Files::new(adapter(server, &r)))
            .with_leftovers(move |_token| Some(server.part_files(&root))),
    )
}

mod pyftpdlib {
    use super::*;
    files_testkit::conformance_tests!(match fixture(
        files_testkit::ftpd::pyftpdlib_or_skip(),
        "ftp (pyftpdlib)"
    ) {
        Some(f) => f,
        None => return,
    });
}

mod pyftpdlib_tls {
    use super::*;
    files_testkit::conformance_tests!(match fixture(
        files_testkit::ftpd::pyftpdlib_tls_or_skip(),
        "ftps (pyftpdlib)"
    ) {
        Some(f) => f,
        None => return,
    });
}

mod vsftpd {
    use super::*;
    files_testkit::conformance_tests!(match fixture(
        files_testkit::ftpd::vsftpd_or_skip(),
        "ftp (vsftpd)"
    ) {
        Some(f) => f,
        None => return,
    });
}

mod vsftpd_tls {
    use super::*;
    files_testkit::conformance_tests!(match fixture(
        files_testkit::ftpd::vsftpd_tls_or_skip(),
        "ftps (vsftpd)"
    ) {
        Some(f) => f,
        None => return,
    });
}
