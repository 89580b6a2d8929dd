//! WebDAV test servers: Apache mod_dav_fs and WsgiDAV (work in progress).
