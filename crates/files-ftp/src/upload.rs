//! Resumable uploads: the growing-offset family over a part file (`<key>.fls-part`) that
//! `APPE` extends after `SIZE` confirmed its length, renamed over the key at the end.

use async_trait::async_trait;
use bytes::Bytes;
use files_core::{
    Adapter, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, Result,
    Resumability, Session, UploadSpec,
};

use crate::adapter::{FtpAdapter, check_options};
use crate::commands::{
    delete_path, key_path, meta_of, open_write, parent, part_path, prune, rename_path, size,
    write_all,
};

fn expired(key: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!("no part file for `{key}`: the upload was finished, cancelled or never begun"),
    )
}

#[async_trait]
impl OffsetUpload for FtpAdapter {
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
        let key = spec.key.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &key);
                let stream = open_write(lease, &part, false, "begin").await?;
                write_all(lease, stream, &[], "begin").await
            })
        })
        .await?;
        Ok(Session::default())
    }

    /// The part file's `SIZE`; `Finished` if it is gone and an object of the upload's length is
    /// at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let spec = spec.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &spec.key);
                if let Some(n) = size(lease, &part, "probe").await? {
                    return Ok(OffsetState::Offset(n));
                }
                let path = key_path(lease, &spec.key);
                match size(lease, &path, "probe").await? {
                    Some(n) if n == spec.total => Ok(OffsetState::Finished(
                        meta_of(lease, &spec.key, &path, n).await,
                    )),
                    _ => Err(expired(&spec.key)),
                }
            })
        })
        .await
    }

    /// Re-checks the part file's `SIZE` (it must be exactly `offset`, else `Conflict`: a
    /// retried append must never duplicate bytes), then appends `data` with `APPE`.
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
        let key = spec.key.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &key);
                match size(lease, &part, "append").await? {
                    None => return Err(expired(&key)),
                    Some(n) if n != offset => {
                        return Err(Error::conflict(format!(
                            "append at offset {offset}, but the part file holds {n} bytes"
                        )));
                    }
                    Some(_) => {}
                }
                let stream = open_write(lease, &part, true, "append").await?;
                write_all(lease, stream, &data, "append").await?;
                // A `226` does not prove every byte arrived: in stream mode a data connection
                // cut short looks like the end of the file, and some servers (pyftpdlib)
                // answer `226` anyway. The part file's size says how far it really got; the
                // scheduler sends the rest from there.
                let end = offset + data.len() as u64;
                match size(lease, &part, "append").await? {
                    Some(n) if n > end => Err(Error::conflict(format!(
                        "the part file holds {n} bytes after an append that should end at {end}"
                    ))),
                    Some(n) => Ok(OffsetState::Offset(n)),
                    None => Err(expired(&key)),
                }
            })
        })
        .await
    }

    /// Checks the part file holds every byte and renames it over the key.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let spec = spec.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &spec.key);
                let path = key_path(lease, &spec.key);
                match size(lease, &part, "finish").await? {
                    Some(n) if n != spec.total => Err(Error::conflict(format!(
                        "the part file holds {n} bytes, but the upload is {} bytes",
                        spec.total
                    ))),
                    Some(n) => {
                        rename_path(lease, &part, &path, "finish").await?;
                        Ok(meta_of(lease, &spec.key, &path, n).await)
                    }
                    // Finished before (a retried finish): the object is in place.
                    None => match size(lease, &path, "finish").await? {
                        Some(n) if n == spec.total => Ok(meta_of(lease, &spec.key, &path, n).await),
                        _ => Err(expired(&spec.key)),
                    },
                }
            })
        })
        .await
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &key);
                if delete_path(lease, &part, "cancel").await? {
                    prune(lease, parent(&part)).await;
                }
                Ok(())
            })
        })
        .await
    }
}
