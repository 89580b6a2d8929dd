//! FTP test servers: pyftpdlib and vsftpd (work in progress).
