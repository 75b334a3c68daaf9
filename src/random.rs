//! Randomness from the operating system's CSPRNG: the one source of every secret, code and id.
//! A leaf module: it depends on nothing else of the crate.

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// A uniformly random number in `0..bound`, from the CSPRNG (rejection sampling, no modulo bias).
pub fn random_below(bound: u32) -> u32 {
    random_below_u64(u64::from(bound)) as u32
}

/// A uniformly random number in `0..bound`, from the CSPRNG (rejection sampling, no modulo bias).
pub fn random_below_u64(bound: u64) -> u64 {
    assert!(bound > 0);
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let mut b = [0u8; 8];
        random_bytes(&mut b);
        let n = u64::from_le_bytes(b);
        if n < zone {
            return n % bound;
        }
    }
}

/// A uniformly random number in `(0, 1]` with 53 random bits, from the CSPRNG.
pub fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    ((u64::from_le_bytes(b) >> 11) + 1) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_below_stays_in_range() {
        assert!((0..1000).all(|_| random_below(7) < 7));
        assert!((0..1000).all(|_| random_below_u64(7) < 7));
        assert!((0..1000).all(|_| {
            let u = random_unit();
            u > 0.0 && u <= 1.0
        }));
    }
}
