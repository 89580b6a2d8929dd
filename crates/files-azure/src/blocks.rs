//! Block blobs as the core's [`PartUpload`] family: Put Block, Get Block List (uncommitted),
//! Put Block List.
//!
//! A session is a random 16-hex-digit nonce. Every block id is the base64 of the 27 ASCII
//! bytes `fls1-<nonce>-<index:05>`: all ids of the session have one length (the service
//! demands it per blob), and resume maps a listed id back to its part number, ignoring ids
//! that are not ours. Block `00000` is the session's **marker**: `begin` stages it with one
//! byte; a probe that does not find it knows the session is gone (completed, aborted, or
//! dropped by the service's garbage collection). `abort` discards every uncommitted block
//! when no committed blob exists at the key (a Put Block List of no blocks, then a
//! conditional delete of the empty blob it made), and otherwise only re-stages the marker with
//! two bytes (a tombstone): the service has no call that discards uncommitted blocks without
//! rewriting the blob, so those blocks stay until the next commit to that blob or until the
//! service drops them, a week after the last Put Block.

use crate::AzureAdapter;
use async_trait::async_trait;
use bytes::Bytes;
use files_core::{
    Error, ErrorKind, LandedPart, MIB, ObjectMeta, Part, PartRules, PartUpload, Result,
    Resumability, Session, UploadSpec,
};
use std::time::SystemTime;

/// The largest block (4000 MiB).
pub const MAX_BLOCK_SIZE: u64 = 4000 * MIB;
/// The most committed blocks of one blob.
pub const MAX_BLOCKS: u64 = 50_000;
/// The prefix of every block id this adapter stages (before base64).
pub const BLOCK_ID_PREFIX: &str = "fls1-";

const MARKER_ACTIVE: &[u8] = b"1";
const MARKER_TOMBSTONE: &[u8] = b"00";

/// Checks a session nonce from a token: exactly 16 lowercase hex digits.
pub fn check_nonce(id: &str) -> Result<()> {
    if id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Error::token_invalid(
            "an Azure session id is 16 lowercase hex digits",
        ))
    }
}

/// The block id (base64) of part `index` (0 = the session marker) of session `nonce`.
pub fn block_id(nonce: &str, index: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{BLOCK_ID_PREFIX}{nonce}-{index:05}"))
}

/// The raw bytes (before base64) of [`block_id`].
fn raw_block_id(nonce: &str, index: u32) -> Vec<u8> {
    format!("{BLOCK_ID_PREFIX}{nonce}-{index:05}").into_bytes()
}

/// The part index of a block id (base64) if it belongs to session `nonce`.
pub fn part_of_block_id(nonce: &str, id: &str) -> Option<u32> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(id).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    let rest = raw.strip_prefix(BLOCK_ID_PREFIX)?.strip_prefix(nonce)?;
    let digits = rest.strip_prefix('-')?;
    if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn new_nonce() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// `<BlockList>` of Get Block List: the committed and uncommitted blocks.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlockList {
    #[serde(default)]
    committed_blocks: Section,
    #[serde(default)]
    uncommitted_blocks: Section,
}

/// `<CommittedBlocks>` or `<UncommittedBlocks>`.
#[derive(Debug, Default, serde::Deserialize)]
struct Section {
    #[serde(rename = "Block", default)]
    blocks: Vec<Block>,
}

/// `<Block><Name>id</Name><Size>n</Size></Block>`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Block {
    name: String,
    size: u64,
}

/// Uncommitted (or committed) blocks of a Get Block List answer's `section`
/// (`UncommittedBlocks`, `CommittedBlocks`) as `(id, size)`; an answer that is not a block
/// list has none.
pub(crate) fn parse_blocks(xml: &str, section: &str) -> Vec<(String, u64)> {
    let Ok(list) = quick_xml::de::from_str::<BlockList>(xml) else {
        return Vec::new();
    };
    let section = match section {
        "CommittedBlocks" => list.committed_blocks,
        "UncommittedBlocks" => list.uncommitted_blocks,
        _ => return Vec::new(),
    };
    section
        .blocks
        .into_iter()
        .map(|b| (b.name, b.size))
        .collect()
}

impl AzureAdapter {
    /// The blob's block list of `kind` (`uncommitted`, `committed`, `all`) as `(id, size)`
    /// pairs (ids in base64, as the REST API shows them); `None` when neither a blob nor
    /// uncommitted blocks exist at `key`.
    pub async fn block_list(&self, key: &str, kind: &str) -> Result<Option<Vec<(String, u64)>>> {
        use azure_storage_blob::models::BlockListType;
        let list_type = match kind {
            "committed" => BlockListType::Committed,
            "uncommitted" => BlockListType::Uncommitted,
            "all" => BlockListType::All,
            other => {
                return Err(Error::invalid_input(format!(
                    "`{other}` is not a block list type (committed, uncommitted, all)"
                )));
            }
        };
        let resp = match self
            .blob(key)
            .block_blob_client()
            .get_block_list(list_type, None)
            .await
            .map_err(|e| crate::sdk::map_error("GetBlockList", e))
        {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound && !e.message().contains("Container") => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let list = resp
            .into_model()
            .map_err(|e| crate::sdk::map_error("GetBlockList", e))?;
        let blocks = |b: Option<Vec<azure_storage_blob::models::Block>>| {
            use base64::Engine as _;
            b.unwrap_or_default().into_iter().filter_map(|b| {
                let name = base64::engine::general_purpose::STANDARD.encode(b.name?);
                Some((name, u64::try_from(b.size?).ok()?))
            })
        };
        let mut out: Vec<(String, u64)> = Vec::new();
        if kind != "committed" {
            out.extend(blocks(list.uncommitted_blocks));
        }
        if kind != "uncommitted" {
            out.extend(blocks(list.committed_blocks));
        }
        Ok(Some(out))
    }

    /// Put Block of `data` as block `index` of session `nonce`.
    async fn stage(&self, key: &str, nonce: &str, index: u32, data: Bytes) -> Result<()> {
        let len = data.len() as u64;
        self.blob(key)
            .block_blob_client()
            .stage_block(&raw_block_id(nonce, index), len, data.into(), None)
            .await
            .map(drop)
            .map_err(|e| crate::sdk::map_error("PutBlock", e))
    }

    /// Put Block List of the blocks `ids` (base64); with `if_none_match`, only if no blob
    /// exists. The new blob's ETag and its `Last-Modified`, both as the service answered them.
    async fn commit(
        &self,
        spec: &UploadSpec,
        ids: &[String],
        if_none_match: bool,
    ) -> Result<Committed> {
        use azure_storage_blob::models::{
            BlockBlobClientCommitBlockListOptions, BlockBlobClientCommitBlockListResultHeaders,
            BlockLookupList,
        };
        use base64::Engine as _;
        let latest = ids
            .iter()
            .map(|id| {
                base64::engine::general_purpose::STANDARD
                    .decode(id)
                    .map_err(|_| Error::invalid_input("a block id is not base64"))
            })
            .collect::<Result<Vec<_>>>()?;
        let list = BlockLookupList {
            latest: Some(latest),
            ..Default::default()
        };
        let o = &spec.options;
        let options = BlockBlobClientCommitBlockListOptions {
            blob_content_type: o.content_type.clone(),
            blob_cache_control: o.cache_control.clone(),
            metadata: (!o.metadata.is_empty()).then(|| {
                o.metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            if_none_match: if_none_match.then(|| azure_core::http::Etag::from("*")),
            ..Default::default()
        };
        let content = list
            .try_into()
            .map_err(|e| crate::sdk::map_error("PutBlockList", e))?;
        let resp = self
            .blob(&spec.key)
            .block_blob_client()
            .commit_block_list(content, Some(options))
            .await
            .map_err(|e| crate::sdk::map_error("PutBlockList", e))?;
        Ok(Committed {
            etag: crate::az_header(resp.headers(), "etag"),
            last_modified: resp.last_modified().ok().flatten().map(SystemTime::from),
        })
    }

    /// The store's `Last-Modified` of the blob at `key` (Get Blob Properties), if it is still
    /// the version `etag` (when known); `None` if it cannot be had.
    async fn stored_last_modified(&self, key: &str, etag: Option<&str>) -> Option<SystemTime> {
        use files_core::Adapter as _;
        match self.head(key).await {
            Ok(head) if etag.is_none() || head.etag.as_deref() == etag => head.last_modified,
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(key, error = %e, "no blob properties after Put Block List");
                None
            }
        }
    }
}

/// What Put Block List answered.
struct Committed {
    etag: Option<String>,
    last_modified: Option<SystemTime>,
}

fn check_number(n: u32) -> Result<u32> {
    if n == 0 || u64::from(n) > MAX_BLOCKS {
        return Err(Error::invalid_input(format!(
            "part number {n} is outside 1..=50000"
        )));
    }
    Ok(n)
}

#[async_trait]
impl PartUpload for AzureAdapter {
    fn rules(&self) -> PartRules {
        PartRules {
            min_part_size: 1,
            max_part_size: MAX_BLOCK_SIZE,
            alignment: 1,
            max_parts: MAX_BLOCKS,
            default_part_size: self.inner.part_size,
        }
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let nonce = new_nonce();
        self.stage(&spec.key, &nonce, 0, Bytes::from_static(MARKER_ACTIVE))
            .await?;
        Ok(Session::new(nonce))
    }

    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        check_nonce(&session.id)?;
        let n = check_number(part.number)?;
        let id = block_id(&session.id, n);
        let size = part.data.len() as u64;
        self.stage(&spec.key, &session.id, n, part.data).await?;
        Ok(LandedPart {
            number: n,
            size,
            etag: Some(id),
            // Get Block List reports no checksum: the token's fingerprints check the body.
            crc32c: None,
        })
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        check_nonce(&session.id)?;
        let gone = || {
            Error::new(
                ErrorKind::SessionExpired,
                "the Azure upload session is gone: it was completed, aborted, or its \
                 uncommitted blocks were discarded (by a commit to the blob, or by the \
                 service a week after the last block)",
            )
        };
        let Some(blocks) = self.block_list(&spec.key, "uncommitted").await? else {
            return Err(gone());
        };
        let mut marker = None;
        let mut parts = std::collections::BTreeMap::new();
        for (id, size) in blocks {
            match part_of_block_id(&session.id, &id) {
                Some(0) => marker = Some(size),
                Some(n) if u64::from(n) <= MAX_BLOCKS => {
                    parts.insert(
                        n,
                        LandedPart {
                            number: n,
                            size,
                            etag: Some(id),
                            crc32c: None,
                        },
                    );
                }
                _ => {} // foreign blocks (another writer, another session)
            }
        }
        if marker != Some(MARKER_ACTIVE.len() as u64) {
            return Err(gone());
        }
        Ok(parts.into_values().collect())
    }

    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        check_nonce(&session.id)?;
        let mut numbers: Vec<u32> = parts.iter().map(|p| p.number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let ids: Vec<String> = numbers
            .iter()
            .map(|&n| check_number(n).map(|n| block_id(&session.id, n)))
            .collect::<Result<_>>()?;
        let committed = match self.commit(spec, &ids, false).await {
            Ok(c) => c,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Transient | ErrorKind::Timeout | ErrorKind::Other
                ) =>
            {
                // Ambiguous: the commit may have been applied. It was if the blob's committed
                // block list is exactly ours.
                match self.block_list(&spec.key, "committed").await {
                    Ok(Some(list))
                        if list.len() == ids.len()
                            && list.iter().zip(&ids).all(|((a, _), b)| a == b) =>
                    {
                        tracing::info!(key = %spec.key, "Put Block List had been applied");
                        Committed {
                            etag: None,
                            last_modified: None,
                        }
                    }
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let mut meta = ObjectMeta::new(spec.key.clone(), spec.total);
        meta.content_type = spec.options.content_type.clone();
        meta.cache_control = spec.options.cache_control.clone();
        meta.metadata = spec.options.metadata.clone();
        // The modification time is the service's, never this machine's clock: the answer's
        // `Last-Modified`, else (an answer without one, or a commit found applied after an
        // ambiguous failure) the blob's properties.
        meta.last_modified = match committed.last_modified {
            Some(t) => Some(t),
            None => {
                self.stored_last_modified(&spec.key, committed.etag.as_deref())
                    .await
            }
        };
        meta.etag = committed.etag;
        Ok(meta)
    }

    async fn abort(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        check_nonce(&session.id)?;
        match self.probe(spec, session).await {
            Err(e) if e.kind() == ErrorKind::SessionExpired => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let exists = match self.properties(&spec.key).await {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if !exists {
            // No committed blob: committing an empty list (only if still no blob) discards
            // every uncommitted block at once; then remove the empty blob it made.
            let empty = UploadSpec {
                options: Default::default(),
                ..spec.clone()
            };
            match self.commit(&empty, &[], true).await {
                Ok(committed) => {
                    let options = azure_storage_blob::models::BlobClientDeleteOptions {
                        if_match: committed.etag.map(azure_core::http::Etag::from),
                        ..Default::default()
                    };
                    match self
                        .blob(&spec.key)
                        .delete(Some(options))
                        .await
                        .map_err(|e| crate::sdk::map_error("DeleteBlob", e))
                    {
                        Ok(_) => return Ok(()),
                        // Replaced or removed meanwhile by someone else: not ours to delete.
                        Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => {
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    }
                }
                // A blob appeared meanwhile: its commit discarded our blocks already.
                Err(e) if e.kind() == ErrorKind::Conflict => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        // A committed blob exists: discarding the blocks would rewrite it. End the session
        // (tombstone the marker); the blocks stay until the next commit or the service's GC.
        tracing::warn!(
            key = %spec.key,
            "Azure has no call that discards uncommitted blocks: the aborted upload's blocks \
             stay until the next commit to this blob or until the service drops them (7 days)"
        );
        self.stage(
            &spec.key,
            &session.id,
            0,
            Bytes::from_static(MARKER_TOMBSTONE),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_round_trip_and_have_one_length() {
        let nonce = "0123456789abcdef";
        let a = block_id(nonce, 0);
        let b = block_id(nonce, 50_000);
        assert_eq!(a.len(), b.len());
        assert_eq!(a.len(), 36);
        assert!(!a.contains('='));
        assert_eq!(part_of_block_id(nonce, &b), Some(50_000));
        assert_eq!(part_of_block_id(nonce, &block_id(nonce, 7)), Some(7));
        assert_eq!(part_of_block_id("fedcba9876543210", &b), None);
        assert_eq!(part_of_block_id(nonce, "Zm9yZWlnbg=="), None);
        assert_eq!(part_of_block_id(nonce, "%%%"), None);
        assert!(check_nonce(nonce).is_ok());
        for bad in [
            "",
            "0123456789ABCDEF",
            "0123",
            "../../../../../../",
            "0123456789abcdeg",
        ] {
            assert_eq!(
                check_nonce(bad).unwrap_err().kind(),
                ErrorKind::TokenInvalid
            );
        }
    }

    #[test]
    fn block_lists_parse() {
        let xml = "<?xml version=\"1.0\"?><BlockList><CommittedBlocks><Block><Name>Yw==</Name><Size>3</Size></Block></CommittedBlocks><UncommittedBlocks><Block><Name>dQ==</Name><Size>5</Size></Block><Block><Name>dg==</Name><Size>6</Size></Block></UncommittedBlocks></BlockList>";
        assert_eq!(
            parse_blocks(xml, "UncommittedBlocks"),
            vec![("dQ==".to_string(), 5), ("dg==".to_string(), 6)]
        );
        assert_eq!(
            parse_blocks(xml, "CommittedBlocks"),
            vec![("Yw==".to_string(), 3)]
        );
        assert!(
            parse_blocks(
                "<BlockList><UncommittedBlocks /></BlockList>",
                "UncommittedBlocks"
            )
            .is_empty()
        );
    }
}
