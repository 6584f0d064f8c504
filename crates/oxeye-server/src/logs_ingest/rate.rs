//! Per-tenant ingestion rate limit: a token bucket in bytes, refilled at the configured
//! rate up to the burst size, on the server's clock. A push that needs more tokens than
//! the bucket holds is refused whole; the answer says how long until it would fit. Bytes
//! of a push the store then refuses are given back.

use std::collections::HashMap;

use oxeye_core::TenantId;
use parking_lot::Mutex;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ns: i64,
}

/// Token buckets of every tenant that pushed.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

impl RateLimiter {
    /// Takes `bytes` from `tenant`'s bucket at `now_ns`, or answers how many seconds until
    /// that many would be there (at least 1; a push larger than the burst never fits, and
    /// is told to wait for a full bucket). `rate` 0 means no limit.
    pub fn allow(
        &self,
        tenant: &TenantId,
        now_ns: i64,
        bytes: usize,
        rate: f64,
        burst: f64,
    ) -> Result<(), u64> {
        if rate <= 0.0 || bytes == 0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(tenant.clone()).or_insert(Bucket {
            tokens: burst,
            at_ns: now_ns,
        });
        let elapsed = (now_ns.saturating_sub(b.at_ns)).max(0) as f64 / 1e9;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at_ns = b.at_ns.max(now_ns);
        let need = bytes as f64;
        if need <= b.tokens {
            b.tokens -= need;
            return Ok(());
        }
        let missing = need.min(burst) - b.tokens;
        Err(((missing / rate).ceil() as u64).max(1))
    }

    /// Returns `bytes` taken by [`RateLimiter::allow`] to `tenant`'s bucket (up to
    /// `burst`), for a push the store then refused: nothing of it was stored, so it must
    /// not count against the tenant's rate. `rate` 0 means no limit.
    pub fn give_back(&self, tenant: &TenantId, bytes: usize, rate: f64, burst: f64) {
        if rate <= 0.0 || bytes == 0 {
            return;
        }
        if let Some(b) = self.buckets.lock().get_mut(tenant) {
            b.tokens = (b.tokens + bytes as f64).min(burst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate_up_to_the_burst() {
        let r = RateLimiter::default();
        let t = TenantId::new("a").unwrap();
        let other = TenantId::new("b").unwrap();
        assert_eq!(r.allow(&t, 0, 600, 100.0, 600.0), Ok(()));
        assert_eq!(r.allow(&t, 0, 1, 100.0, 600.0), Err(1));
        assert_eq!(
            r.allow(&other, 0, 600, 100.0, 600.0),
            Ok(()),
            "tenants apart"
        );
        // two seconds refill 200 bytes
        assert_eq!(r.allow(&t, 2_000_000_000, 200, 100.0, 600.0), Ok(()));
        assert_eq!(r.allow(&t, 2_000_000_000, 300, 100.0, 600.0), Err(3));
        // a long pause refills no more than the burst
        assert_eq!(r.allow(&t, 1_000_000_000_000, 601, 100.0, 600.0), Err(1));
        assert_eq!(r.allow(&t, 1_000_000_000_000, 600, 100.0, 600.0), Ok(()));
        assert_eq!(
            r.allow(&t, 1_000_000_000_000, 10, 0.0, 0.0),
            Ok(()),
            "no limit"
        );
    }

    #[test]
    fn given_back_bytes_can_be_taken_again_up_to_the_burst() {
        let r = RateLimiter::default();
        let t = TenantId::new("a").unwrap();
        assert_eq!(r.allow(&t, 0, 500, 100.0, 600.0), Ok(()));
        assert_eq!(r.allow(&t, 0, 500, 100.0, 600.0), Err(4));
        r.give_back(&t, 500, 100.0, 600.0);
        assert_eq!(r.allow(&t, 0, 500, 100.0, 600.0), Ok(()));
        r.give_back(&t, 5000, 100.0, 600.0);
        assert_eq!(
            r.allow(&t, 0, 601, 100.0, 600.0),
            Err(1),
            "never past the burst"
        );
    }
}
