//! Chunk files: the chunks of one head cut, with their index in a footer.
//!
//! ```text
//! "OXLOGC01" | chunk data ... | footer | footer length u64 LE | footer CRC32 u32 LE | "OXLOGEND"
//! footer: stream count, per stream its label set;
//!         chunk count, per chunk: stream number, min ts, max ts (zigzag), entries,
//!         line bytes, payload length, chunk CRC32, offset, length, filter;
//!         then optional sections, each a tag byte and its body:
//!         1 = metadata filters, one per chunk in chunk order
//! ```
//! Files written before the metadata filters existed end after the chunks; their chunks
//! have no metadata filter and are read for every metadata hint.
//! A file is written under a temporary name, fsynced and renamed (`<seq>.olc`), so a
//! crash leaves either the whole file or none. Opening reads only the footer: chunk
//! metadata and filters stay in memory, chunk data is read with positioned reads when a
//! query needs it (and its CRC checked then); no descriptor is held between reads. A
//! file dropped by retention is deleted once the last reader lets go of it.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oxeye_core::Labels;
use oxeye_core::logs::LogEntry;
use oxeye_storage::block::sync_dir;

use crate::LogStoreError;
use crate::chunk::{ChunkMeta, EncodedChunk, Keep, decode_chunk};
use crate::codec::{Reader, put_ivarint, put_uvarint};
use crate::error::DecodeError;
use crate::filter::LineFilter;
use crate::mdfilter::MetaFilter;
use crate::record::{decode_labels, encode_labels};

const HEAD_MAGIC: &[u8; 8] = b"OXLOGC01";
const TAIL_MAGIC: &[u8; 8] = b"OXLOGEND";
const TAIL_LEN: usize = 8 + 4 + 8;
/// Footer section tag: the chunks' metadata filters.
const SECTION_MD_FILTERS: u8 = 1;
/// The file name suffix of chunk files.
pub(crate) const EXT: &str = "olc";

/// One chunk of a file.
#[derive(Debug)]
pub(crate) struct FileChunk {
    pub stream: u32,
    pub meta: ChunkMeta,
    pub offset: u64,
    pub len: u32,
    pub filter: LineFilter,
    /// Absent in files written before metadata filters: such chunks may hold any pair.
    pub md_filter: Option<MetaFilter>,
}

/// An open chunk file.
pub(crate) struct ChunkFile {
    pub seq: u64,
    pub path: PathBuf,
    /// Label sets of the file's streams, by stream number.
    pub streams: Vec<Labels>,
    pub chunks: Vec<FileChunk>,
    pub size: u64,
    pub max_ts: i64,
    delete_on_drop: AtomicBool,
}

impl std::fmt::Debug for ChunkFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkFile")
            .field("path", &self.path)
            .field("streams", &self.streams.len())
            .field("chunks", &self.chunks.len())
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:08}.{EXT}")
}

#[cfg(test)]
thread_local! {
    /// Makes `write_file` on this thread fail (tests of failure handling).
    pub(crate) static FAIL_WRITES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Makes `write_file` on this thread fail once the file is renamed into place.
    pub(crate) static FAIL_AFTER_RENAME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes the chunks of `streams` (label set and its chunks) as file `seq` in `dir`.
pub(crate) fn write_file(
    dir: &Path,
    seq: u64,
    streams: &[(Labels, Vec<Arc<EncodedChunk>>)],
) -> Result<ChunkFile, LogStoreError> {
    #[cfg(test)]
    if FAIL_WRITES.with(std::cell::Cell::get) {
        return Err(LogStoreError::io(
            format!("create chunk file {seq} in {}", dir.display()),
            std::io::Error::other("injected failure"),
        ));
    }
    let path = dir.join(file_name(seq));
    let tmp = dir.join(format!("{seq:08}.tmp"));
    let mut footer = Vec::new();
    put_uvarint(&mut footer, streams.len() as u64);
    for (labels, _) in streams {
        encode_labels(&mut footer, labels);
    }
    let total: usize = streams.iter().map(|(_, c)| c.len()).sum();
    put_uvarint(&mut footer, total as u64);
    let mut f = File::create(&tmp)
        .map_err(|e| LogStoreError::io(format!("create {}", tmp.display()), e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut f);
    let werr = |e| LogStoreError::io(format!("write {}", tmp.display()), e);
    w.write_all(HEAD_MAGIC).map_err(werr)?;
    let mut offset = HEAD_MAGIC.len() as u64;
    for (i, (_, chunks)) in streams.iter().enumerate() {
        for c in chunks {
            w.write_all(&c.data).map_err(werr)?;
            put_uvarint(&mut footer, i as u64);
            put_ivarint(&mut footer, c.meta.min_ts);
            put_ivarint(&mut footer, c.meta.max_ts);
            put_uvarint(&mut footer, u64::from(c.meta.entries));
            put_uvarint(&mut footer, c.meta.line_bytes);
            put_uvarint(&mut footer, u64::from(c.meta.raw_len));
            footer.extend_from_slice(&c.meta.crc.to_le_bytes());
            put_uvarint(&mut footer, offset);
            put_uvarint(&mut footer, c.data.len() as u64);
            c.filter.encode(&mut footer);
            offset += c.data.len() as u64;
        }
    }
    footer.push(SECTION_MD_FILTERS);
    for (_, chunks) in streams {
        for c in chunks {
            c.md_filter.encode(&mut footer);
        }
    }
    w.write_all(&footer).map_err(werr)?;
    w.write_all(&(footer.len() as u64).to_le_bytes())
        .map_err(werr)?;
    w.write_all(&crc32fast::hash(&footer).to_le_bytes())
        .map_err(werr)?;
    w.write_all(TAIL_MAGIC).map_err(werr)?;
    w.flush().map_err(werr)?;
    drop(w);
    f.sync_all()
        .map_err(|e| LogStoreError::io(format!("fsync {}", tmp.display()), e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| {
        LogStoreError::io(format!("rename {} to {}", tmp.display(), path.display()), e)
    })?;
    #[cfg(test)]
    if FAIL_AFTER_RENAME.with(std::cell::Cell::get) {
        return Err(LogStoreError::io(
            format!("fsync {}", dir.display()),
            std::io::Error::other("injected failure"),
        ));
    }
    sync_dir(dir)?;
    ChunkFile::open(&path, seq)
}

impl ChunkFile {
    /// Opens a chunk file and reads its footer; a bad footer is [`LogStoreError::Corrupt`].
    pub fn open(path: &Path, seq: u64) -> Result<ChunkFile, LogStoreError> {
        let file = File::open(path)
            .map_err(|e| LogStoreError::io(format!("open {}", path.display()), e))?;
        let size = file
            .metadata()
            .map_err(|e| LogStoreError::io(format!("stat {}", path.display()), e))?
            .len();
        let corrupt = |what: String| LogStoreError::Corrupt(format!("{}: {what}", path.display()));
        if size < (HEAD_MAGIC.len() + TAIL_LEN) as u64 {
            return Err(corrupt(format!("file of {size} bytes is too short")));
        }
        let mut tail = [0u8; TAIL_LEN];
        file.read_exact_at(&mut tail, size - TAIL_LEN as u64)
            .map_err(|e| LogStoreError::io(format!("read {}", path.display()), e))?;
        let mut r = Reader::new(&tail);
        let footer_len = r.u64_le("footer length").map_err(|e| corrupt(e.0))?;
        let footer_crc = r.u32_le("footer checksum").map_err(|e| corrupt(e.0))?;
        if r.take(8, "magic").map_err(|e| corrupt(e.0))? != TAIL_MAGIC {
            return Err(corrupt("missing end marker (torn or foreign file)".into()));
        }
        let body = size - TAIL_LEN as u64 - HEAD_MAGIC.len() as u64;
        if footer_len > body {
            return Err(corrupt(format!(
                "footer length {footer_len} exceeds the file"
            )));
        }
        let mut footer = vec![0u8; footer_len as usize];
        let footer_at = size - TAIL_LEN as u64 - footer_len;
        file.read_exact_at(&mut footer, footer_at)
            .map_err(|e| LogStoreError::io(format!("read {}", path.display()), e))?;
        if crc32fast::hash(&footer) != footer_crc {
            return Err(corrupt("footer checksum mismatch".into()));
        }
        let (streams, chunks) =
            parse_footer(&footer, footer_at).map_err(|e| corrupt(format!("footer: {e}")))?;
        let max_ts = chunks.iter().map(|c| c.meta.max_ts).max().unwrap_or(0);
        Ok(ChunkFile {
            seq,
            path: path.to_path_buf(),
            streams,
            chunks,
            size,
            max_ts,
            delete_on_drop: AtomicBool::new(false),
        })
    }

    /// Reads, verifies and decodes chunk `i`.
    #[cfg(test)]
    pub fn read_chunk(&self, i: usize) -> Result<Vec<LogEntry>, LogStoreError> {
        self.read_chunk_with(i, &|_, _| true)
    }

    /// Reads and verifies chunk `i`, decoding the entries `keep` accepts.
    pub fn read_chunk_with(
        &self,
        i: usize,
        keep: Keep<'_>,
    ) -> Result<Vec<LogEntry>, LogStoreError> {
        let c = self.chunks.get(i).ok_or_else(|| {
            LogStoreError::Corrupt(format!("{}: no chunk {i}", self.path.display()))
        })?;
        let mut data = vec![0u8; c.len as usize];
        // opened per read: a long retention holds many files, and descriptors are scarce
        File::open(&self.path)
            .and_then(|f| f.read_exact_at(&mut data, c.offset))
            .map_err(|e| LogStoreError::io(format!("read {}", self.path.display()), e))?;
        decode_chunk(&c.meta, &data, keep).map_err(|e| {
            LogStoreError::Corrupt(format!(
                "{}: chunk {i} at offset {}: {e}",
                self.path.display(),
                c.offset
            ))
        })
    }

    /// Deletes the file once the last holder drops it.
    pub fn delete_when_unused(&self) {
        self.delete_on_drop.store(true, Ordering::Release);
    }
}

impl Drop for ChunkFile {
    fn drop(&mut self) {
        if self.delete_on_drop.load(Ordering::Acquire)
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot delete chunk file");
        }
    }
}

fn parse_footer(
    footer: &[u8],
    data_end: u64,
) -> Result<(Vec<Labels>, Vec<FileChunk>), DecodeError> {
    let mut r = Reader::new(footer);
    let ns = r.len("stream count", 1)?;
    let mut streams = Vec::with_capacity(ns);
    for _ in 0..ns {
        streams.push(decode_labels(&mut r)?);
    }
    let nc = r.len("chunk count", 8)?;
    let mut chunks = Vec::with_capacity(nc);
    for i in 0..nc {
        let stream = r.uvarint("stream number")?;
        if stream >= ns as u64 {
            return Err(DecodeError(format!(
                "chunk {i} names stream {stream} of {ns}"
            )));
        }
        let min_ts = r.ivarint("min ts")?;
        let max_ts = r.ivarint("max ts")?;
        let entries = u32::try_from(r.uvarint("entries")?)
            .map_err(|_| DecodeError("entry count too large".into()))?;
        let line_bytes = r.uvarint("line bytes")?;
        let raw_len = u32::try_from(r.uvarint("payload length")?)
            .map_err(|_| DecodeError("payload length too large".into()))?;
        let crc = r.u32_le("chunk checksum")?;
        let offset = r.uvarint("offset")?;
        let len = u32::try_from(r.uvarint("length")?)
            .map_err(|_| DecodeError("chunk length too large".into()))?;
        if offset < HEAD_MAGIC.len() as u64
            || offset.saturating_add(u64::from(len)) > data_end
            || min_ts > max_ts
        {
            return Err(DecodeError(format!("chunk {i} has bad bounds")));
        }
        let filter = LineFilter::decode(&mut r)?;
        chunks.push(FileChunk {
            stream: stream as u32,
            meta: ChunkMeta {
                min_ts,
                max_ts,
                entries,
                line_bytes,
                raw_len,
                crc,
            },
            offset,
            len,
            filter,
            md_filter: None,
        });
    }
    while !r.is_empty() {
        match r.u8("footer section")? {
            SECTION_MD_FILTERS => {
                for (i, c) in chunks.iter_mut().enumerate() {
                    let f = MetaFilter::decode(&mut r)
                        .map_err(|e| DecodeError(format!("chunk {i}: {}", e.0)))?;
                    c.md_filter = Some(f);
                }
            }
            tag => return Err(DecodeError(format!("unknown footer section {tag}"))),
        }
    }
    Ok((streams, chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::encode_chunk;

    #[test]
    fn writes_opens_reads_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<LogEntry> = (0..50)
            .map(|i| LogEntry::new(i, format!("a {i}")))
            .collect();
        let b: Vec<LogEntry> = (100..120)
            .map(|i| LogEntry::new(i, format!("b {i}")))
            .collect();
        let streams = vec![
            (
                Labels::from_pairs(&[("job", "a")]),
                vec![
                    Arc::new(encode_chunk(&a[..25], 3)),
                    Arc::new(encode_chunk(&a[25..], 3)),
                ],
            ),
            (
                Labels::from_pairs(&[("job", "b")]),
                vec![Arc::new(encode_chunk(&b, 3))],
            ),
        ];
        let f = write_file(dir.path(), 7, &streams).unwrap();
        assert_eq!(f.chunks.len(), 3);
        assert_eq!(f.max_ts, 119);
        let again = ChunkFile::open(&f.path, 7).unwrap();
        assert_eq!(again.streams, f.streams);
        assert_eq!(again.read_chunk(1).unwrap(), a[25..].to_vec());
        assert_eq!(again.read_chunk(2).unwrap(), b);
        assert!(again.read_chunk(3).is_err());

        // flip a byte inside the first chunk: the footer still opens, the chunk read fails
        let mut bytes = std::fs::read(&f.path).unwrap();
        bytes[10] ^= 0x55;
        let p = dir.path().join("x.olc");
        std::fs::write(&p, &bytes).unwrap();
        let damaged = ChunkFile::open(&p, 8).unwrap();
        let err = damaged.read_chunk(0).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        assert!(damaged.read_chunk(1).is_ok());
        // a torn file does not open
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(
            ChunkFile::open(&p, 8),
            Err(LogStoreError::Corrupt(_))
        ));
        // retention: deleted once dropped
        f.delete_when_unused();
        let path = f.path.clone();
        drop(f);
        assert!(!path.exists());
    }

    #[test]
    fn metadata_filters_round_trip_and_older_files_read_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let es: Vec<LogEntry> = (0..40)
            .map(|i| {
                let mut e = LogEntry::new(i, format!("line {i}"));
                e.metadata.push(("trace_id".into(), format!("t{i}")));
                e
            })
            .collect();
        let chunks = vec![
            Arc::new(encode_chunk(&es[..20], 3)),
            Arc::new(encode_chunk(&es[20..], 3)),
        ];
        let streams = vec![(Labels::from_pairs(&[("job", "a")]), chunks.clone())];
        let f = write_file(dir.path(), 1, &streams).unwrap();
        for (fc, c) in f.chunks.iter().zip(&chunks) {
            assert_eq!(fc.md_filter.as_ref(), Some(&c.md_filter));
        }
        let first = f.chunks[0].md_filter.as_ref().unwrap();
        assert!(first.may_contain("trace_id", "t3"));
        assert!(!first.may_contain("trace_id", "t33"));

        // the same file as written before metadata filters: the footer ends after the
        // chunks, so its chunks have no metadata filter (any pair may be there)
        let bytes = std::fs::read(&f.path).unwrap();
        let n = bytes.len();
        let footer_len =
            u64::from_le_bytes(bytes[n - TAIL_LEN..n - TAIL_LEN + 8].try_into().unwrap());
        let footer_at = n - TAIL_LEN - footer_len as usize;
        let section: usize = 1 + chunks
            .iter()
            .map(|c| {
                let mut b = Vec::new();
                c.md_filter.encode(&mut b);
                b.len()
            })
            .sum::<usize>();
        let old_footer = &bytes[footer_at..n - TAIL_LEN - section];
        let mut old = bytes[..footer_at].to_vec();
        old.extend_from_slice(old_footer);
        old.extend_from_slice(&(old_footer.len() as u64).to_le_bytes());
        old.extend_from_slice(&crc32fast::hash(old_footer).to_le_bytes());
        old.extend_from_slice(TAIL_MAGIC);
        let p = dir.path().join("old.olc");
        std::fs::write(&p, &old).unwrap();
        let back = ChunkFile::open(&p, 2).unwrap();
        assert_eq!(back.chunks.len(), 2);
        assert!(back.chunks.iter().all(|c| c.md_filter.is_none()));
        assert_eq!(back.read_chunk(1).unwrap(), es[20..].to_vec());

        // an unknown section is corruption, not silently ignored
        let mut footer = bytes[footer_at..n - TAIL_LEN].to_vec();
        footer.push(9);
        let mut odd = bytes[..footer_at].to_vec();
        odd.extend_from_slice(&footer);
        odd.extend_from_slice(&(footer.len() as u64).to_le_bytes());
        odd.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
        odd.extend_from_slice(TAIL_MAGIC);
        std::fs::write(&p, &odd).unwrap();
        let err = ChunkFile::open(&p, 3).unwrap_err().to_string();
        assert!(err.contains("unknown footer section 9"), "{err}");
    }
}
