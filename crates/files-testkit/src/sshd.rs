//! OpenSSH `sshd` as an SFTP test server (work in progress).
