//! The block index: page table, timestamp columns and runs, varint-coded column by
//! column (similar numbers sit together and compress well) and stored as one zstd frame
//! before the footer of a block.

use super::CodecError;
use super::varint::{ByteReader, put_uvarint, put_varint};

/// Magic plus the page compression id.
pub(crate) const HEADER_LEN: usize = 5;
/// Largest raw page size accepted from an index.
pub(crate) const MAX_PAGE_RAW: usize = 1 << 31;

/// One compressed page: where it lies in the block, its raw size and checksum.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageMeta {
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) raw_len: u32,
    pub(crate) crc: u32,
}

/// One timestamp column: its bytes within a raw timestamp page.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColMeta {
    pub(crate) page: u32,
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

/// One run of one series: time range, sample count, timestamp column and value bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RunMeta {
    pub(crate) series_ref: u32,
    pub(crate) count: u32,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) col: u32,
    pub(crate) page: u32,
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

/// Serialises the index (before compression).
pub(crate) fn encode_index(pages: &[PageMeta], cols: &[ColMeta], runs: &[RunMeta]) -> Vec<u8> {
    let mut b = Vec::new();
    put_uvarint(&mut b, pages.len() as u64);
    let mut prev_end = HEADER_LEN as u64;
    for p in pages {
        put_uvarint(&mut b, p.offset - prev_end);
        put_uvarint(&mut b, u64::from(p.len));
        put_uvarint(&mut b, u64::from(p.raw_len));
        b.extend_from_slice(&p.crc.to_le_bytes());
        prev_end = p.offset + u64::from(p.len);
    }
    put_uvarint(&mut b, cols.len() as u64);
    let mut prev = ColMeta {
        page: 0,
        offset: 0,
        len: 0,
    };
    for c in cols {
        put_uvarint(&mut b, u64::from(c.page - prev.page));
        let off = if c.page == prev.page {
            c.offset - prev.offset - prev.len
        } else {
            c.offset
        };
        put_uvarint(&mut b, u64::from(off));
        put_uvarint(&mut b, u64::from(c.len));
        prev = *c;
    }
    // Runs column by column: similar numbers sit together and compress well.
    put_uvarint(&mut b, runs.len() as u64);
    let mut prev_ref = 0u32;
    for r in runs {
        put_uvarint(&mut b, u64::from(r.series_ref - prev_ref));
        prev_ref = r.series_ref;
    }
    for r in runs {
        put_uvarint(&mut b, u64::from(r.count));
    }
    let mut prev_mint = 0i64;
    for r in runs {
        put_varint(&mut b, r.mint.wrapping_sub(prev_mint));
        prev_mint = r.mint;
    }
    for r in runs {
        put_uvarint(&mut b, r.maxt.wrapping_sub(r.mint) as u64);
    }
    let mut prev_col = 0i64;
    for r in runs {
        put_varint(&mut b, i64::from(r.col) - prev_col);
        prev_col = i64::from(r.col);
    }
    let mut prev_page = 0u32;
    let mut prev_end = 0u32;
    for r in runs {
        put_uvarint(&mut b, u64::from(r.page - prev_page));
        if r.page != prev_page {
            prev_end = 0;
        }
        // Runs fill a page back to back, so the offset is implied unless it jumps.
        put_uvarint(&mut b, u64::from(r.offset - prev_end));
        put_uvarint(&mut b, u64::from(r.len));
        prev_page = r.page;
        prev_end = r.offset + r.len;
    }
    b
}

pub(crate) type Index = (Vec<PageMeta>, Vec<ColMeta>, Vec<RunMeta>);

/// Parses and validates a decompressed index; `data_end` is where the pages must end.
pub(crate) fn decode_index(index: &[u8], data_end: u64) -> Result<Index, CodecError> {
    let mut r = ByteReader::new(index, "block index");
    let limit = index.len();
    let n_pages = r.len(limit, "page count")?;
    let mut pages = Vec::with_capacity(n_pages);
    let mut prev_end = HEADER_LEN as u64;
    for _ in 0..n_pages {
        let gap = r.uvarint()?;
        let len = r.len(u32::MAX as usize, "page length")?;
        let raw_len = r.len(MAX_PAGE_RAW, "raw page length")?;
        let crc_b = r.bytes(4)?;
        let offset = prev_end
            .checked_add(gap)
            .filter(|o| o.checked_add(len as u64).is_some_and(|e| e <= data_end))
            .ok_or_else(|| r.corrupt("page lies outside the block"))?;
        prev_end = offset + len as u64;
        pages.push(PageMeta {
            offset,
            len: len as u32,
            raw_len: raw_len as u32,
            crc: u32::from_le_bytes([crc_b[0], crc_b[1], crc_b[2], crc_b[3]]),
        });
    }
    let n_cols = r.len(limit, "column count")?;
    let mut cols = Vec::with_capacity(n_cols);
    let mut prev = ColMeta {
        page: 0,
        offset: 0,
        len: 0,
    };
    for _ in 0..n_cols {
        let page = prev
            .page
            .checked_add(r.len(u32::MAX as usize, "column page")? as u32)
            .filter(|p| (*p as usize) < n_pages)
            .ok_or_else(|| r.corrupt("column page out of range"))?;
        let gap = r.len(MAX_PAGE_RAW, "column offset")? as u32;
        let offset = if page == prev.page {
            prev.offset
                .checked_add(prev.len)
                .and_then(|o| o.checked_add(gap))
                .ok_or_else(|| r.corrupt("column offset overflows"))?
        } else {
            gap
        };
        let len = r.len(MAX_PAGE_RAW, "column length")? as u32;
        prev = ColMeta { page, offset, len };
        cols.push(prev);
    }
    let n_runs = r.len(limit, "run count")?;
    let mut runs = vec![
        RunMeta {
            series_ref: 0,
            count: 0,
            mint: 0,
            maxt: 0,
            col: 0,
            page: 0,
            offset: 0,
            len: 0,
        };
        n_runs
    ];
    let mut prev_ref = 0u64;
    for run in runs.iter_mut() {
        let d = r.uvarint()?;
        prev_ref = prev_ref
            .checked_add(d)
            .filter(|v| *v <= u64::from(u32::MAX))
            .ok_or_else(|| r.corrupt("series ref out of range"))?;
        run.series_ref = prev_ref as u32;
    }
    for run in runs.iter_mut() {
        run.count = r.len(u32::MAX as usize, "run sample count")? as u32;
        if run.count == 0 {
            return Err(r.corrupt("empty run"));
        }
    }
    let mut prev_mint = 0i64;
    for run in runs.iter_mut() {
        prev_mint = prev_mint.wrapping_add(r.varint()?);
        run.mint = prev_mint;
    }
    for run in runs.iter_mut() {
        run.maxt = run.mint.wrapping_add(r.uvarint()? as i64);
    }
    let mut prev_col = 0i64;
    for run in runs.iter_mut() {
        prev_col = prev_col.wrapping_add(r.varint()?);
        if prev_col < 0 || prev_col as usize >= n_cols {
            return Err(r.corrupt(format!("run column {prev_col} out of range")));
        }
        run.col = prev_col as u32;
    }
    let mut prev_page = 0u32;
    let mut prev_end = 0u32;
    for run in runs.iter_mut() {
        let page = prev_page
            .checked_add(r.len(u32::MAX as usize, "run page")? as u32)
            .filter(|p| (*p as usize) < n_pages)
            .ok_or_else(|| r.corrupt("run page out of range"))?;
        if page != prev_page {
            prev_end = 0;
        }
        let gap = r.len(MAX_PAGE_RAW, "run offset")? as u32;
        let len = r.len(MAX_PAGE_RAW, "run length")? as u32;
        let offset = prev_end
            .checked_add(gap)
            .ok_or_else(|| r.corrupt("run offset overflows"))?;
        prev_end = offset
            .checked_add(len)
            .ok_or_else(|| r.corrupt("run end overflows"))?;
        run.page = page;
        run.offset = offset;
        run.len = len;
        prev_page = page;
    }
    if !r.is_empty() {
        return Err(r.corrupt("trailing bytes after the index"));
    }
    if runs
        .windows(2)
        .any(|w| w[1].series_ref == w[0].series_ref && w[1].mint <= w[0].maxt)
    {
        return Err(CodecError::Corrupt(
            "runs of one series overlap in time".into(),
        ));
    }
    Ok((pages, cols, runs))
}
