use proptest::prelude::*;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn ramp(n: usize, t0: i64, v0: f64) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample::new(t0 + 60_000 * i as i64, v0 + 100.0 * i as f64))
        .collect()
}

// Chunks Prometheus's own appender produced for `0+100x119` and `12000+100x119` loaded
// at a 1m interval, and for single samples (from its streamed remote read handler test).
// Before Prometheus 2.55 the bit stream kept a spare zero byte after byte-aligned writes,
// so 2.x wrote the single-sample chunks with one more trailing zero byte; decoders ignore
// it and oxeye writes the current form.
const RAMP_FROM_0: &str = "0078000000000000000000e0d403c27c059400c1ac7de97a32d04fedb46e5b07ce94a36d64f9d0fd1a506d0a539d0e51ad0650bda8bfca815a032833a05287da05280fa0d281da3d2813a032835a072877a032815a0f2813b597f4501b40a507f40a501b43a502741e502b40651ef40e506b406502743a503b41a501f40a53fb40a5067406502b43e502f406506b40e51e740a501b41a503f43a501b40a506740e5a4aff5c85cb88d7b80fe52b465bc8e74529ed14a1f6e27d28768d284e8329d68728de832856da57f2827434a06d0528ff414a06d0d28274fca0ad03286f41ca3ad032";
const RAMP_FROM_2H: &str = "007880f4ee0640c7700000000000e0d403e03e94edb0bfd280fa05283da052873a032815a0f2817a0328f5a072833a05280da1d281fa0d280da0529f3a072835a032817a1f2815a032833a0528fda05280fa0d281da1d2813a032835a072d667f4b98b9721ab711fca4ee0474a1b4529fd14a1b6f27d284e8f28568329de8728d683284edc57d283b434a07d0528fb414a19d03282b4fca0bd03286b41ca39d05281b434a0fdb4bfd280da052833a072875a032817a0f2815a0328f3a05283da05280fa1d281da0d2813a0329f5a072837a032815a1f2813a0d280da0528ffa05280da0d20";
const ONE_AT_2H: &str = "000180f4ee0640c7700000000000";
const ONE_AT_4H: &str = "000180e8dd0d40d7700000000000";

#[test]
fn encodes_like_prometheus() {
    let cases = [
        (ramp(120, 0, 0.0), RAMP_FROM_0),
        (ramp(120, 7_200_000, 12_000.0), RAMP_FROM_2H),
        (vec![Sample::new(7_200_000, 12_000.0)], ONE_AT_2H),
        (vec![Sample::new(14_400_000, 24_000.0)], ONE_AT_4H),
    ];
    for (samples, want) in cases {
        let got = encode_xor_chunk(&samples).unwrap();
        assert_eq!(got, hex(want), "first sample {:?}", samples[0]);
        assert_eq!(decode_xor_chunk(&hex(want)).unwrap(), samples);
    }
}

#[test]
fn decodes_the_prometheus_2_form_with_a_spare_byte() {
    let old = hex("000180e8dd0d40d770000000000000");
    assert_eq!(
        decode_xor_chunk(&old).unwrap(),
        vec![Sample::new(14_400_000, 24_000.0)]
    );
}

#[test]
fn hand_computed_vector() {
    // 1000 -> varint d0 0f, 1.0 raw; delta 1000 -> e8 07, same value -> 0;
    // dod 0 -> 0; 2.0 ^ 1.0 = 0x7ff0.. -> 1 1 00001 001011 11111111111
    let samples = [
        Sample::new(1000, 1.0),
        Sample::new(2000, 1.0),
        Sample::new(3000, 2.0),
    ];
    let want = hex("0003d00f3ff0000000000000e8073097ffc0");
    assert_eq!(encode_xor_chunk(&samples).unwrap(), want);
    assert_eq!(decode_xor_chunk(&want).unwrap(), samples);
}

#[test]
fn every_delta_of_delta_bucket_round_trips() {
    // deltas chosen so the delta-of-delta hits each bucket edge, both signs
    let mut t = -5_000i64;
    let mut samples = vec![Sample::new(t, 0.0)];
    let mut delta = 10i64;
    for dod in [
        0,
        1,
        -1,
        8192,
        -8191,
        8193,
        -8192,
        65_536,
        -65_535,
        65_537,
        524_288,
        -524_287,
        524_289,
        -524_288,
        1 << 40,
        -(1 << 40),
    ] {
        delta += dod;
        t += delta;
        samples.push(Sample::new(t, samples.len() as f64));
    }
    let chunk = encode_xor_chunk(&samples).unwrap();
    assert_eq!(decode_xor_chunk(&chunk).unwrap(), samples);
}

#[test]
fn values_keep_their_bits() {
    let values = [
        0.0,
        -0.0,
        f64::NAN,
        oxeye_core::stale_nan(),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        f64::MAX,
        1.0,
        1.0 + f64::EPSILON,
        -1e300,
        5e-324,
    ];
    let samples: Vec<Sample> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| Sample::new(i as i64 * 15_000, v))
        .collect();
    let got = decode_xor_chunk(&encode_xor_chunk(&samples).unwrap()).unwrap();
    let bits = |s: &[Sample]| s.iter().map(|x| (x.t, x.v.to_bits())).collect::<Vec<_>>();
    assert_eq!(bits(&got), bits(&samples));
}

#[test]
fn truncated_and_empty_chunks_are_errors_not_panics() {
    let chunk = encode_xor_chunk(&ramp(50, 0, 1.5)).unwrap();
    for n in 0..chunk.len() {
        let r = decode_xor_chunk(&chunk[..n]);
        assert!(r.is_err(), "prefix of {n} bytes decoded: {r:?}");
    }
    assert_eq!(decode_xor_chunk(&[0, 0]).unwrap(), vec![]);
    // a header promising a sample that is not there
    assert!(decode_xor_chunk(&[0, 1]).is_err());
}

#[test]
fn appender_tracks_range_and_count() {
    let mut a = XorAppender::new();
    assert!(a.is_empty());
    assert_eq!(a.min_time(), None);
    a.append(10, 1.0).unwrap();
    a.append(20, 2.0).unwrap();
    assert_eq!((a.min_time(), a.max_time()), (Some(10), Some(20)));
    assert_eq!(a.num_samples(), 2);
    assert_eq!(&a.bytes()[..2], &[0, 2]);
}

proptest! {
    #[test]
    fn round_trips(
        t0 in -1_000_000_000_000i64..1_000_000_000_000,
        steps in proptest::collection::vec((1i64..100_000_000, any::<u64>()), 0..300),
        v0 in any::<u64>(),
    ) {
        let mut t = t0;
        let mut samples = vec![Sample::new(t, f64::from_bits(v0))];
        for (dt, bits) in steps {
            t += dt;
            samples.push(Sample::new(t, f64::from_bits(bits)));
        }
        let got = decode_xor_chunk(&encode_xor_chunk(&samples).unwrap()).unwrap();
        let bits = |s: &[Sample]| s.iter().map(|x| (x.t, x.v.to_bits())).collect::<Vec<_>>();
        prop_assert_eq!(bits(&got), bits(&samples));
    }

    #[test]
    fn round_trips_smooth_series(
        t0 in 0i64..2_000_000_000_000,
        n in 1usize..=120,
        jitter in proptest::collection::vec(-50i64..50, 120),
        incs in proptest::collection::vec(0u32..1000, 120),
    ) {
        let mut samples = Vec::new();
        let (mut t, mut v) = (t0, 0.0f64);
        for i in 0..n {
            samples.push(Sample::new(t, v));
            t += 15_000 + jitter[i];
            v += f64::from(incs[i]) / 8.0;
        }
        let got = decode_xor_chunk(&encode_xor_chunk(&samples).unwrap()).unwrap();
        prop_assert_eq!(got, samples);
    }
}
