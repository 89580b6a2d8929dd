//! Uploads: the numbered-parts family, in process (sessions live in the store).

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::BytesMut;
use files_core::adapter::validate_key_default;
use files_core::{
    Error, LandedPart, ObjectMeta, Part, PartRules, PartUpload, Result, Resumability, Session,
    UploadSpec,
};

use crate::adapter::MemoryAdapter;
use crate::errors::session_expired;
use crate::store::{Object, StoredPart, UploadSession, next_id};

#[async_trait]
impl PartUpload for MemoryAdapter {
    fn rules(&self) -> PartRules {
        PartRules {
            min_part_size: 1,
            max_part_size: 5 * files_core::GIB,
            alignment: 1,
            max_parts: 10_000,
            default_part_size: 8 * files_core::MIB,
        }
    }

    fn resumability(&self) -> Resumability {
        Resumability::InProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        validate_key_default(&spec.key)?;
        let id = format!("mem-{}", next_id());
        self.state().sessions.insert(
            id.clone(),
            UploadSession {
                key: spec.key.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(Session::new(id))
    }

    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        let rules = PartUpload::rules(self);
        if part.number == 0 || u64::from(part.number) > rules.max_parts {
            return Err(Error::invalid_input(format!(
                "part number {} is outside 1..={}",
                part.number, rules.max_parts
            )));
        }
        let size = part.data.len() as u64;
        if size > rules.max_part_size {
            return Err(Error::invalid_input(format!(
                "part {} is {size} bytes; at most {} are allowed",
                part.number, rules.max_part_size
            )));
        }
        let mut state = self.state();
        let upload = state
            .sessions
            .get_mut(&session.id)
            .filter(|s| s.key == spec.key)
            .ok_or_else(|| session_expired(session))?;
        // The store computes the checksum of what it holds, and vouches for that.
        let crc = crc32c::crc32c(&part.data);
        let etag = format!("{crc:08x}");
        upload.parts.insert(
            part.number,
            StoredPart {
                data: part.data,
                crc32c: crc,
                etag: etag.clone(),
            },
        );
        Ok(LandedPart {
            number: part.number,
            size,
            etag: Some(etag),
            crc32c: Some(crc),
        })
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        let state = self.state();
        let upload = state
            .sessions
            .get(&session.id)
            .filter(|s| s.key == spec.key)
            .ok_or_else(|| session_expired(session))?;
        Ok(upload
            .parts
            .iter()
            .map(|(&number, p)| LandedPart {
                number,
                size: p.data.len() as u64,
                etag: Some(p.etag.clone()),
                crc32c: Some(p.crc32c),
            })
            .collect())
    }

    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        let mut state = self.state();
        let upload = state
            .sessions
            .get(&session.id)
            .filter(|s| s.key == spec.key)
            .ok_or_else(|| session_expired(session))?;
        if parts.is_empty() {
            return Err(Error::invalid_input(
                "completing an upload needs at least one part",
            ));
        }
        let mut previous = 0u32;
        let mut total = 0usize;
        for p in parts {
            if p.number <= previous {
                return Err(Error::invalid_input(format!(
                    "part {} is listed out of order (after part {previous}); parts must be in increasing order",
                    p.number
                )));
            }
            previous = p.number;
            let stored = upload.parts.get(&p.number).ok_or_else(|| {
                Error::invalid_input(format!(
                    "part {} was never uploaded in this session",
                    p.number
                ))
            })?;
            if p.etag.as_ref().is_some_and(|e| *e != stored.etag)
                || p.size != stored.data.len() as u64
            {
                return Err(Error::invalid_input(format!(
                    "part {} does not match the part the store holds (size or etag differ)",
                    p.number
                )));
            }
            total += stored.data.len();
        }
        let mut data = BytesMut::with_capacity(total);
        for p in parts {
            data.extend_from_slice(&upload.parts[&p.number].data);
        }
        let object = Object::new(data.freeze(), &spec.options);
        let meta = object.meta(&spec.key);
        state.sessions.remove(&session.id);
        state.objects.insert(spec.key.clone(), object);
        Ok(meta)
    }

    async fn abort(&self, _spec: &UploadSpec, session: &Session) -> Result<()> {
        self.state().sessions.remove(&session.id);
        Ok(())
    }
}
