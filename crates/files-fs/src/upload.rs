//! Uploads: the growing-offset family over the part file `<key>.fls-part`, resumable across
//! processes (the part file's length is the truth).

use std::fs;
use std::io::{Seek, SeekFrom, Write};

use async_trait::async_trait;
use bytes::Bytes;
use files_core::{
    Adapter, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, Result,
    Resumability, Session, UploadSpec,
};

use crate::adapter::{FsAdapter, blocking, check_options, sync_dir};
use crate::errors::{expired, is_absent};

impl FsAdapter {
    fn begin_blocking(&self, key: &str) -> Result<()> {
        let path = self.key_path(key);
        let part = self.part_path(key);
        self.confine(&path)?;
        self.confine(&part)?;
        // Remove whatever is there (without following a link) and create a fresh file that
        // cannot be a link: `create_new` refuses existing names.
        let f = self
            .in_parent_dir(&part, key, || {
                match fs::remove_file(&part) {
                    Err(e) if !is_absent(&e) => return Err(e),
                    _ => {}
                }
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&part)
            })?
            .map_err(Error::from_io)?;
        f.sync_all().map_err(Error::from_io)?;
        sync_dir(part.parent());
        Ok(())
    }

    fn probe_blocking(&self, spec: &UploadSpec) -> Result<OffsetState> {
        let key = spec.key.as_str();
        let part = self.part_path(key);
        self.confine(&part)?;
        match fs::metadata(&part) {
            Ok(m) if m.is_file() => return Ok(OffsetState::Offset(m.len())),
            Ok(_) => {
                return Err(Error::conflict(format!(
                    "the part file of `{key}` is not a regular file"
                )));
            }
            Err(e) if is_absent(&e) => {}
            Err(e) => return Err(Error::from_io(e)),
        }
        match self.head_blocking(key) {
            Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
            Ok(_) => Err(expired(key)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(expired(key)),
            Err(e) => Err(e),
        }
    }

    fn append_blocking(&self, key: &str, offset: u64, data: &[u8]) -> Result<OffsetState> {
        let part = self.part_path(key);
        self.confine(&part)?;
        let mut f = match fs::OpenOptions::new().write(true).open(&part) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Err(expired(key)),
            Err(e) => return Err(Error::from_io(e)),
        };
        let len = f.metadata().map_err(Error::from_io)?.len();
        if len != offset {
            return Err(Error::conflict(format!(
                "append at offset {offset}, but the part file holds {len} bytes"
            )));
        }
        f.seek(SeekFrom::Start(offset)).map_err(Error::from_io)?;
        f.write_all(data).map_err(Error::from_io)?;
        f.sync_data().map_err(Error::from_io)?;
        Ok(OffsetState::Offset(offset + data.len() as u64))
    }

    fn finish_blocking(&self, spec: &UploadSpec) -> Result<ObjectMeta> {
        let key = spec.key.as_str();
        let part = self.part_path(key);
        self.confine(&part)?;
        let f = match fs::OpenOptions::new().read(true).write(true).open(&part) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => {
                // Finished before (a retried finish): the object is in place.
                return match self.head_blocking(key) {
                    Ok(meta) if meta.size == spec.total => Ok(meta),
                    Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                    _ => Err(expired(key)),
                };
            }
            Err(e) => return Err(Error::from_io(e)),
        };
        let len = f.metadata().map_err(Error::from_io)?.len();
        if len != spec.total {
            return Err(Error::conflict(format!(
                "the part file holds {len} bytes, but the upload is {} bytes",
                spec.total
            )));
        }
        f.sync_all().map_err(Error::from_io)?;
        drop(f);
        self.commit(&part, key)
    }

    fn cancel_blocking(&self, key: &str) -> Result<()> {
        let part = self.part_path(key);
        self.confine(&part)?;
        match fs::remove_file(&part) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(Error::from_io(e)),
        }
        sync_dir(part.parent());
        self.prune(part.parent());
        Ok(())
    }
}

#[async_trait]
impl OffsetUpload for FsAdapter {
    fn rules(&self) -> PartRules {
        PartRules::unconstrained()
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    /// Creates (or truncates) `<key>.fls-part`, creating parent directories.
    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        self.validate_key(&spec.key)?;
        check_options(&spec.options)?;
        let this = self.clone();
        let k = spec.key.clone();
        blocking(move || this.begin_blocking(&k)).await?;
        Ok(Session::default())
    }

    /// The part file's length; `Finished` if it is gone and an object of the upload's length
    /// is at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let this = self.clone();
        let spec = spec.clone();
        blocking(move || this.probe_blocking(&spec)).await
    }

    /// Writes `data` at `offset` of the existing part file and `fdatasync`s it; the part file's
    /// length must be exactly `offset` (else `Conflict`).
    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        if offset.saturating_add(data.len() as u64) > spec.total {
            return Err(Error::invalid_input(format!(
                "append of {} bytes at offset {offset} goes past the upload's {} bytes",
                data.len(),
                spec.total
            )));
        }
        let this = self.clone();
        let k = spec.key.clone();
        blocking(move || this.append_blocking(&k, offset, &data)).await
    }

    /// Syncs the part file and renames it over the key.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let this = self.clone();
        let spec = spec.clone();
        blocking(move || this.finish_blocking(&spec)).await
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let this = self.clone();
        let k = spec.key.clone();
        blocking(move || this.cancel_blocking(&k)).await
    }
}
