//! Round-trip, property and corruption tests of the block codec.

use std::sync::Arc;

use oxeye_core::Sample;
use proptest::prelude::*;

use super::*;

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|s| (s.t, s.v.to_bits())).collect()
}

fn encode(series: &[(u32, Vec<Sample>)]) -> Vec<u8> {
    let mut enc = BlockEncoder::new();
    for (r, s) in series {
        enc.add_series(*r, s).unwrap();
    }
    enc.finish()
}

fn read(dec: &BlockDecoder, r: u32, mint: i64, maxt: i64) -> Option<Vec<Sample>> {
    let mut out = Vec::new();
    dec.read_series(r, mint, maxt, &mut out)
        .unwrap()
        .then_some(out)
}

fn scrape_like(n_series: u32, n: i64) -> Vec<(u32, Vec<Sample>)> {
    let ts: Vec<i64> = (0..n)
        .map(|i| 1_700_000_000_000 + i * 15_000 + (i * 7919 % 5))
        .collect();
    (0..n_series)
        .map(|s| {
            let samples = ts
                .iter()
                .enumerate()
                .map(|(i, &t)| {
                    let v = match s % 4 {
                        0 => 42.0,
                        1 => 1000.0 + (i as f64) * 0.25 * f64::from(s),
                        2 => ((i as f64) * 0.1).sin(),
                        _ => (i as f64 * 4096.0).floor() + 1e9,
                    };
                    Sample::new(t, v)
                })
                .collect();
            (s * 3 + 1, samples)
        })
        .collect()
}

#[test]
fn many_series_round_trip_and_time_ranges() {
    let series = scrape_like(50, 700);
    let bytes = encode(&series);
    let dec = BlockDecoder::open(Arc::from(bytes)).unwrap();
    assert_eq!(dec.series_count(), 50);
    assert_eq!(dec.sample_count(), 50 * 700);
    for (r, s) in &series {
        let got = read(&dec, *r, i64::MIN, i64::MAX).unwrap();
        assert_eq!(bits(&got), bits(s), "series {r}");
        let (lo, hi) = (s[100].t, s[400].t);
        let got = read(&dec, *r, lo, hi).unwrap();
        assert_eq!(bits(&got), bits(&s[100..=400]));
        assert!(read(&dec, *r, 0, 1).unwrap().is_empty());
    }
    assert!(read(&dec, 0, i64::MIN, i64::MAX).is_none());
    assert!(read(&dec, 2, i64::MIN, i64::MAX).is_none());
    assert!(read(&dec, u32::MAX, i64::MIN, i64::MAX).is_none());
}

#[test]
fn cached_columns_read_the_same_samples() {
    // 15 s scrapes over ~8 h: several runs per series, their columns shared by all series
    let series = scrape_like(30, 2000);
    let dec = BlockDecoder::open(Arc::from(encode(&series))).unwrap();
    assert!(dec.column_count() > 1);
    let mut cols = ColumnCache::default();
    let s0 = &series[0].1;
    for (lo, hi) in [
        (i64::MIN, i64::MAX),
        (s0[250].t, s0[1700].t),
        (s0[3].t, s0[3].t),
    ] {
        for (r, s) in &series {
            let mut got = Vec::new();
            assert!(
                dec.read_series_cached(*r, lo, hi, &mut got, &mut cols)
                    .unwrap()
            );
            let want: Vec<Sample> = s
                .iter()
                .filter(|x| x.t >= lo && x.t <= hi)
                .copied()
                .collect();
            assert_eq!(bits(&got), bits(&want), "series {r} [{lo}, {hi}]");
        }
    }
    // appends after what `out` holds
    let mut out = vec![Sample::new(0, 1.0)];
    dec.read_series_cached(series[1].0, i64::MIN, i64::MAX, &mut out, &mut cols)
        .unwrap();
    assert_eq!(out.len(), 2001);
}

#[test]
fn shared_timestamps_are_stored_once() {
    let series = scrape_like(200, 480);
    let dec = BlockDecoder::open(Arc::from(encode(&series))).unwrap();
    assert_eq!(dec.series_count(), 200);
    // Two hours of samples (less than one run window) make one run per series, and one
    // column for the whole block.
    assert_eq!(dec.column_count(), 1);
    let mut enc = BlockEncoder::with_options(BlockEncoderOptions {
        share_timestamps: false,
        ..BlockEncoderOptions::default()
    });
    for (r, s) in &series {
        enc.add_series(*r, s).unwrap();
    }
    let dec = BlockDecoder::open(Arc::from(enc.finish())).unwrap();
    assert_eq!(dec.column_count(), 200);
    // A series that misses one scrape gets a column of its own.
    let mut gappy = series[..3].to_vec();
    gappy[1].1.remove(10);
    let dec = BlockDecoder::open(Arc::from(encode(&gappy))).unwrap();
    assert_eq!(dec.column_count(), 2);
    for (r, s) in &gappy {
        assert_eq!(bits(&read(&dec, *r, i64::MIN, i64::MAX).unwrap()), bits(s));
    }
}

#[test]
fn special_values_and_extreme_timestamps() {
    let specials = [
        oxeye_core::STALE_NAN_BITS,
        f64::NAN.to_bits(),
        0x7ff8_0000_dead_beef,
        0xfff0_0000_0000_0001,
        (-0.0f64).to_bits(),
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        1,
        u64::MAX,
        0.1f64.to_bits(),
    ];
    let times = [
        i64::MIN,
        i64::MIN + 1,
        -7_200_001,
        -1,
        0,
        7_199_999,
        7_200_000,
        1 << 50,
        i64::MAX - 1,
        i64::MAX,
    ];
    let s: Vec<Sample> = times
        .iter()
        .zip(specials)
        .map(|(&t, v)| Sample::new(t, f64::from_bits(v)))
        .collect();
    let stale_tail: Vec<Sample> = (0..20)
        .map(|i| {
            let v = if i == 19 {
                f64::from_bits(oxeye_core::STALE_NAN_BITS)
            } else {
                i as f64
            };
            Sample::new(i * 1000, v)
        })
        .collect();
    let bytes = encode(&[(0, s.clone()), (u32::MAX, stale_tail.clone())]);
    let dec = BlockDecoder::open(Arc::from(bytes)).unwrap();
    assert_eq!(bits(&read(&dec, 0, i64::MIN, i64::MAX).unwrap()), bits(&s));
    assert_eq!(bits(&read(&dec, 0, -1, 7_200_000).unwrap()), bits(&s[3..7]));
    assert_eq!(
        bits(&read(&dec, u32::MAX, i64::MIN, i64::MAX).unwrap()),
        bits(&stale_tail)
    );
}

#[test]
fn long_series_skip_by_time() {
    let s: Vec<Sample> = (0..20_000)
        .map(|i| Sample::new(i * 10_000 + (i % 3), (i / 10) as f64 * 0.5))
        .collect();
    let bytes = encode(&[(7, s.clone())]);
    let dec = BlockDecoder::open(Arc::from(bytes)).unwrap();
    assert_eq!(bits(&read(&dec, 7, i64::MIN, i64::MAX).unwrap()), bits(&s));
    let got = read(&dec, 7, s[15_000].t, s[15_010].t).unwrap();
    assert_eq!(bits(&got), bits(&s[15_000..=15_010]));
}

#[test]
fn invalid_input_is_rejected() {
    let mut enc = BlockEncoder::new();
    assert!(matches!(
        enc.add_series(1, &[]),
        Err(CodecError::InvalidInput(_))
    ));
    let dup = [Sample::new(1, 1.0), Sample::new(1, 2.0)];
    assert!(matches!(
        enc.add_series(2, &dup),
        Err(CodecError::InvalidInput(_))
    ));
    enc.add_series(5, &[Sample::new(1, 1.0)]).unwrap();
    assert!(matches!(
        enc.add_series(5, &[Sample::new(1, 1.0)]),
        Err(CodecError::InvalidInput(_))
    ));
    assert!(matches!(
        enc.add_series(4, &[Sample::new(1, 1.0)]),
        Err(CodecError::InvalidInput(_))
    ));
    let dec = BlockDecoder::open(Arc::from(enc.finish())).unwrap();
    assert_eq!(dec.series_count(), 1);
}

#[test]
fn empty_block() {
    let dec = BlockDecoder::open(Arc::from(BlockEncoder::new().finish())).unwrap();
    assert_eq!(dec.series_count(), 0);
    assert!(read(&dec, 1, i64::MIN, i64::MAX).is_none());
}

/// Opening and reading every series must return data or an error, never panic.
fn read_everything(bytes: &[u8], refs: &[u32]) {
    let Ok(dec) = BlockDecoder::open(Arc::from(bytes)) else {
        return;
    };
    let mut out = Vec::new();
    for &r in refs {
        let _ = dec.read_series(r, i64::MIN, i64::MAX, &mut out);
    }
}

#[test]
fn corrupted_blocks_never_panic() {
    let series = scrape_like(12, 300);
    let refs: Vec<u32> = series.iter().map(|s| s.0).collect();
    let good = encode(&series);
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..3000 {
        let mut b = good.clone();
        match next() % 4 {
            0 => {
                let i = (next() as usize) % b.len();
                b[i] ^= 1 << (next() % 8);
            }
            1 => b.truncate((next() as usize) % b.len()),
            2 => {
                let i = (next() as usize) % b.len();
                let n = ((next() as usize) % 64).min(b.len() - i);
                for x in &mut b[i..i + n] {
                    *x = next() as u8;
                }
            }
            _ => {
                b = (0..(next() % 300)).map(|_| next() as u8).collect();
                b.extend_from_slice(b"OXB1");
            }
        }
        read_everything(&b, &refs);
    }
}

#[test]
fn corrupted_index_and_pages_are_reported() {
    let series = scrape_like(3, 100);
    let good = encode(&series);
    let n = good.len();
    let mut b = good.clone();
    b[n - 25] ^= 0xff; // inside the compressed index
    assert!(BlockDecoder::open(Arc::from(b)).is_err());
    let mut b = good.clone();
    b[6] ^= 0xff; // inside the first page
    let dec = BlockDecoder::open(Arc::from(b)).unwrap();
    let mut out = Vec::new();
    let errs = series
        .iter()
        .filter(|(r, _)| dec.read_series(*r, i64::MIN, i64::MAX, &mut out).is_err())
        .count();
    assert!(errs > 0);
    assert!(BlockDecoder::open(Arc::from(&good[..n - 1])).is_err());
    assert!(BlockDecoder::open(Arc::from(&b"OXB1"[..])).is_err());
}

fn arb_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0i64..100_000).prop_map(|v| (v as f64 / 100.0).to_bits()),
        (0i64..1000).prop_map(|v| (v as f64).to_bits()),
        Just(oxeye_core::STALE_NAN_BITS),
        Just((-0.0f64).to_bits()),
    ]
}

fn arb_series() -> impl Strategy<Value = Vec<Sample>> {
    (
        any::<i64>(),
        proptest::collection::vec(
            (
                prop_oneof![1i64..3, 14_990i64..15_010, 1i64..i64::MAX / 4],
                arb_value(),
            ),
            1..300,
        ),
    )
        .prop_map(|(start, steps)| {
            let mut t = start;
            let mut out = Vec::new();
            for (i, (gap, v)) in steps.into_iter().enumerate() {
                if i > 0 {
                    match t.checked_add(gap) {
                        Some(n) => t = n,
                        None => break,
                    }
                }
                out.push(Sample::new(t, f64::from_bits(v)));
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_blocks_round_trip(
        series in proptest::collection::vec((1u32..1000, arb_series()), 0..20),
    ) {
        let mut enc = BlockEncoder::new();
        let mut added = Vec::new();
        let mut r = 0u32;
        for (step, s) in series {
            r += step;
            enc.add_series(r, &s).unwrap();
            added.push((r, s));
        }
        let dec = BlockDecoder::open(Arc::from(enc.finish())).unwrap();
        prop_assert_eq!(dec.series_count(), added.len());
        for (r, s) in &added {
            let got = read(&dec, *r, i64::MIN, i64::MAX).unwrap();
            prop_assert_eq!(bits(&got), bits(s));
            let mid = s[s.len() / 2].t;
            let got = read(&dec, *r, mid, mid).unwrap();
            prop_assert_eq!(bits(&got), bits(&s[s.len() / 2..=s.len() / 2]));
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut b = bytes.clone();
        b.extend_from_slice(b"OXB1");
        read_everything(&b, &[0, 1, 2, 100]);
        let mut b2 = b"OXB1".to_vec();
        b2.extend_from_slice(&bytes);
        read_everything(&b2, &[0, 1, 2, 100]);
    }
}

#[test]
fn codec_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<HeadChunk>();
    check::<BlockDecoder>();
    check::<BlockEncoder>();
}

#[test]
fn zstd_pages_round_trip() {
    let series = scrape_like(20, 500);
    let mut enc = BlockEncoder::with_options(BlockEncoderOptions {
        compression: PageCompression::Zstd,
        ..BlockEncoderOptions::default()
    });
    for (r, s) in &series {
        enc.add_series(*r, s).unwrap();
    }
    let dec = BlockDecoder::open(Arc::from(enc.finish())).unwrap();
    for (r, s) in &series {
        assert_eq!(bits(&read(&dec, *r, i64::MIN, i64::MAX).unwrap()), bits(s));
    }
}

/// Series of the node_exporter fixture (consecutive 1 s scrapes as exposition text, each
/// preceded by `#TS <unix ms>`), limited to the first `max_scrapes` scrapes.
fn fixture_series(max_scrapes: usize) -> Vec<Vec<Sample>> {
    use std::io::BufRead;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/node_exporter_1s.txt.zst"
    );
    let file = std::fs::File::open(path).unwrap();
    let reader = std::io::BufReader::new(zstd::stream::read::Decoder::new(file).unwrap());
    let mut index = std::collections::BTreeMap::<String, Vec<Sample>>::new();
    let mut t = None;
    let mut scrapes = 0;
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(ts) = line.strip_prefix("#TS ") {
            scrapes += 1;
            if scrapes > max_scrapes {
                break;
            }
            t = Some(ts.parse::<i64>().unwrap());
            continue;
        }
        let (Some(t), Some((key, value))) = (t, line.rsplit_once(' ')) else {
            continue;
        };
        index
            .entry(key.to_string())
            .or_default()
            .push(Sample::new(t, value.parse::<f64>().unwrap()));
    }
    index.into_values().collect()
}

#[test]
fn real_node_exporter_data_round_trips_under_target_size() {
    let series = fixture_series(600);
    let samples: usize = series.iter().map(Vec::len).sum();
    assert!(samples > 250_000, "{samples}");
    let mut enc = BlockEncoder::new();
    for (i, s) in series.iter().enumerate() {
        enc.add_series(i as u32, s).unwrap();
    }
    let bytes = enc.finish();
    let per_sample = bytes.len() as f64 / samples as f64;
    // The milestone target for sealed storage is 0.40 bytes/sample, lossless.
    assert!(per_sample <= 0.40, "{per_sample:.3} bytes/sample");
    let dec = BlockDecoder::open(Arc::from(bytes)).unwrap();
    assert_eq!(dec.series_count(), series.len());
    for (i, s) in series.iter().enumerate() {
        assert_eq!(
            bits(&read(&dec, i as u32, i64::MIN, i64::MAX).unwrap()),
            bits(s)
        );
    }
}

/// A block of many small zstd pages, so reads cross far more pages than a decoder keeps.
fn many_pages(n_series: u32, salt: f64) -> (Vec<(u32, Vec<Sample>)>, Arc<[u8]>) {
    let series: Vec<(u32, Vec<Sample>)> = scrape_like(n_series, 200)
        .into_iter()
        .map(|(r, s)| {
            let s = s
                .into_iter()
                .map(|x| Sample::new(x.t, x.v + salt))
                .collect();
            (r, s)
        })
        .collect();
    let mut enc = BlockEncoder::with_options(BlockEncoderOptions {
        page_target: 256,
        compression: PageCompression::Zstd,
        zstd_level: 1,
        ..BlockEncoderOptions::default()
    });
    for (r, s) in &series {
        enc.add_series(*r, s).unwrap();
    }
    (series, Arc::from(enc.finish()))
}

fn read_all(dec: &BlockDecoder, series: &[(u32, Vec<Sample>)]) {
    for (r, s) in series {
        let got = read(dec, *r, i64::MIN, i64::MAX).unwrap();
        assert_eq!(bits(&got), bits(s), "series {r}");
    }
}

#[test]
fn a_second_read_through_the_page_cache_decompresses_nothing() {
    let (series, bytes) = many_pages(120, 0.0);
    let cache = PageCache::new(16 << 20);
    let dec = BlockDecoder::open_cached(Arc::clone(&bytes), Arc::clone(&cache), 1).unwrap();
    read_all(&dec, &series);
    let first = cache.stats();
    assert!(
        first.misses > 3 * 8,
        "the block needs more pages ({}) than a decoder keeps",
        first.misses
    );
    read_all(&dec, &series);
    // a decoder opened again on the same block (after the chunk cache let it go)
    let again = BlockDecoder::open_cached(bytes, Arc::clone(&cache), 1).unwrap();
    read_all(&again, &series);
    let s = cache.stats();
    assert_eq!(s.misses, first.misses, "no page was decompressed twice");
    assert!(s.hits >= first.misses, "{} hits", s.hits);
    assert!(s.bytes > 0 && s.bytes <= s.capacity);
}

#[test]
fn a_small_page_cache_stays_within_its_budget() {
    let (series, bytes) = many_pages(60, 0.0);
    let budget = 64 << 10;
    let cache = PageCache::new(budget);
    for block in 1..=40 {
        let dec = BlockDecoder::open_cached(Arc::clone(&bytes), Arc::clone(&cache), block).unwrap();
        read_all(&dec, &series[..20]);
        let s = cache.stats();
        assert!(
            s.bytes <= budget,
            "{} bytes cached, budget {budget}",
            s.bytes
        );
    }
    let s = cache.stats();
    assert!(
        s.bytes > budget / 2,
        "the cache filled up: {} bytes",
        s.bytes
    );
    assert!(s.misses > s.pages, "pages were evicted");
}

#[test]
fn blocks_sharing_the_page_cache_never_see_each_others_pages() {
    let (a_series, a_bytes) = many_pages(40, 0.0);
    let (b_series, b_bytes) = many_pages(40, 0.5);
    let cache = PageCache::new(16 << 20);
    let a = BlockDecoder::open_cached(a_bytes, Arc::clone(&cache), 1).unwrap();
    let b = BlockDecoder::open_cached(b_bytes, Arc::clone(&cache), 2).unwrap();
    for _ in 0..2 {
        for (sa, sb) in a_series.iter().zip(&b_series) {
            assert_eq!(sa.0, sb.0, "both blocks use the same refs and page ids");
            assert_eq!(
                bits(&read(&a, sa.0, i64::MIN, i64::MAX).unwrap()),
                bits(&sa.1)
            );
            assert_eq!(
                bits(&read(&b, sb.0, i64::MIN, i64::MAX).unwrap()),
                bits(&sb.1)
            );
        }
    }
    // a block replacing block 1 gets a new identity and reads its own data
    cache.forget_block(1);
    let (c_series, c_bytes) = many_pages(40, 0.25);
    let c = BlockDecoder::open_cached(c_bytes, Arc::clone(&cache), 3).unwrap();
    read_all(&c, &c_series);
    read_all(&b, &b_series);
}

#[test]
fn a_zero_page_cache_disables_caching_and_reads_still_work() {
    let (series, bytes) = many_pages(60, 0.0);
    let cache = PageCache::new(0);
    let dec = BlockDecoder::open_cached(bytes, Arc::clone(&cache), 1).unwrap();
    read_all(&dec, &series);
    let first = cache.stats().misses;
    read_all(&dec, &series);
    let s = cache.stats();
    // only the few pages the decoder itself keeps are not decompressed again
    assert!(
        s.misses - first >= first - 8,
        "every pass decompresses again: {first} then {}",
        s.misses - first
    );
    assert_eq!((s.hits, s.bytes, s.pages), (0, 0, 0));
}
