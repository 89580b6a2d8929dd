//! Uploads: the growing-offset family over the remote part file `<key>.fls-part`, resumable
//! across processes (the part file's remote size is the truth, re-checked before every append).

use async_trait::async_trait;
use bytes::Bytes;
use files_core::{
    Adapter, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, Result,
    Resumability, Session, UploadSpec,
};
use russh_sftp::protocol::OpenFlags;

use crate::adapter::{HandleGuard, SftpAdapter, check_options};
use crate::errors::expired;

#[async_trait]
impl OffsetUpload for SftpAdapter {
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
        let key = spec.key.as_str();
        let r: Result<()> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            Self::check_not_dir(&c, &self.key_path(key), key).await?;
            self.make_parents(&c, &part, key).await?;
            let h = c
                .open(
                    &part,
                    OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
                )
                .await?;
            c.close(&h).await
        }
        .await;
        r.map_err(|e| self.err(e, "begin", key))?;
        Ok(Session::default())
    }

    /// The part file's remote size; `Finished` if it is gone and an object of the upload's
    /// length is at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.as_str();
        let r: Result<OffsetState> = async {
            let c = self.conn().await?;
            match c.lstat(&self.part_path(key)).await {
                Ok(a) if a.is_regular() => return Ok(OffsetState::Offset(a.size.unwrap_or(0))),
                Ok(_) => {
                    return Err(Error::conflict(format!(
                        "the part file of `{key}` is not a regular file"
                    )));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            match self.head_with(&c, key).await {
                Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
                Ok(_) => Err(expired(key)),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(expired(key)),
                Err(e) => Err(e),
            }
        }
        .await;
        r.map_err(|e| self.err(e, "probe", key))
    }

    /// Opens the part file for writing, checks that its remote size is exactly `offset`
    /// (else `Conflict`), writes `data` at `offset` and `fsync`s where the server can.
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
        let key = spec.key.as_str();
        if offset.saturating_add(data.len() as u64) > spec.total {
            return Err(Error::invalid_input(format!(
                "append of {} bytes at offset {offset} goes past the upload's {} bytes",
                data.len(),
                spec.total
            )));
        }
        let r: Result<OffsetState> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            // No CREATE: a part file that is gone means the session is gone.
            let handle = match c.open(&part, OpenFlags::WRITE).await {
                Ok(h) => h,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(expired(key)),
                Err(e) => return Err(e),
            };
            let guard = HandleGuard {
                conn: c.clone(),
                handle: Some(handle.clone()),
            };
            let size = c.fstat(&handle, &part).await?.size.unwrap_or(0);
            if size != offset {
                guard.close().await;
                return Err(Error::conflict(format!(
                    "append at offset {offset}, but the part file holds {size} bytes"
                )));
            }
            if let Err((e, contiguous, landed_beyond)) =
                c.write_at(&handle, offset, &data, &part).await
            {
                if landed_beyond && c.usable() {
                    // A later request landed after a failed one: cut the hole off, so that the
                    // part file's size stays the count of good bytes.
                    let _ = c.ftruncate(&handle, offset + contiguous, &part).await;
                }
                guard.close().await;
                return Err(e);
            }
            let synced = c.fsync(&handle, &part).await;
            let closed = c.close(&handle).await;
            guard.disarm(); // closed above
            synced?;
            closed?;
            Ok(OffsetState::Offset(offset + data.len() as u64))
        }
        .await;
        r.map_err(|e| self.err(e, "append", key))
    }

    /// Checks the part file holds every byte and renames it over the key.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.as_str();
        let r: Result<ObjectMeta> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            match c.lstat(&part).await {
                Ok(a) => {
                    let len = a.size.unwrap_or(0);
                    if len != spec.total {
                        return Err(Error::conflict(format!(
                            "the part file holds {len} bytes, but the upload is {} bytes",
                            spec.total
                        )));
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    // Finished before (a retried finish): the object is in place.
                    return match self.head_with(&c, key).await {
                        Ok(meta) if meta.size == spec.total => Ok(meta),
                        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                        _ => Err(expired(key)),
                    };
                }
                Err(e) => return Err(e),
            }
            let path = self.key_path(key);
            Self::check_not_dir(&c, &path, key).await?;
            c.rename_over(&part, &path).await?;
            self.head_with(&c, key).await
        }
        .await;
        r.map_err(|e| self.err(e, "finish", key))
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.as_str();
        let r: Result<()> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            match c.remove(&part).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            self.prune(&c, &part).await;
            Ok(())
        }
        .await;
        r.map_err(|e| self.err(e, "cancel", key))
    }
}
