//! numpy-exact randomness: `SeedSequence`, `PCG64` and the `Generator` methods POGEMA uses.
//!
//! POGEMA builds every instance from `np.random.default_rng(seed)` streams. Reproducing its maps,
//! starts, goals and lifelong goal streams bit for bit therefore needs numpy 1.26's exact
//! algorithms, not just "a PCG64": the seeding (`SeedSequence` hashing), the 32-bit half-word
//! buffer, Lemire's bounded integers, the masked `random_interval` of `shuffle`, and the binomial
//! inversion. Each function below names the numpy routine it mirrors. The generator is `Clone`,
//! so a planner can look at future goals without disturbing the episode.

/// `SeedSequence` hashing constants (numpy `bit_generator.pyx`).
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;

/// PCG64's 128-bit LCG multiplier.
const PCG_MULT: u128 = (2_549_297_995_355_413_924u128 << 64) | 4_865_540_595_714_422_341u128;

/// `np.random.SeedSequence(seed).generate_state(4, np.uint64)` for a non-negative integer seed.
pub fn seed_sequence_state(seed: u64) -> [u64; 4] {
    let words: Vec<u32> = if seed >> 32 == 0 {
        vec![seed as u32]
    } else {
        vec![seed as u32, (seed >> 32) as u32]
    };
    let mut hash_const = INIT_A;
    let hashmix = |value: u32, hc: &mut u32| -> u32 {
        let mut v = value ^ *hc;
        *hc = hc.wrapping_mul(MULT_A);
        v = v.wrapping_mul(*hc);
        v ^ (v >> XSHIFT)
    };
    let mix = |x: u32, y: u32| -> u32 {
        let r = MIX_MULT_L
            .wrapping_mul(x)
            .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
        r ^ (r >> XSHIFT)
    };
    let mut pool = [0u32; POOL_SIZE];
    for (i, slot) in pool.iter_mut().enumerate() {
        *slot = hashmix(words.get(i).copied().unwrap_or(0), &mut hash_const);
    }
    for src in 0..POOL_SIZE {
        for dst in 0..POOL_SIZE {
            if src != dst {
                let h = hashmix(pool[src], &mut hash_const);
                pool[dst] = mix(pool[dst], h);
            }
        }
    }
    for &word in words.iter().skip(POOL_SIZE) {
        for slot in pool.iter_mut() {
            let h = hashmix(word, &mut hash_const);
            *slot = mix(*slot, h);
        }
    }
    let mut out32 = [0u32; 8];
    let mut hash_const_b = INIT_B;
    for (i, out) in out32.iter_mut().enumerate() {
        let mut v = pool[i % POOL_SIZE] ^ hash_const_b;
        hash_const_b = hash_const_b.wrapping_mul(MULT_B);
        v = v.wrapping_mul(hash_const_b);
        *out = v ^ (v >> XSHIFT);
    }
    std::array::from_fn(|k| u64::from(out32[2 * k]) | (u64::from(out32[2 * k + 1]) << 32))
}

/// numpy's `PCG64` bit generator (XSL-RR 128/64) with its 32-bit half-word buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcg64 {
    state: u128,
    inc: u128,
    buffered_u32: Option<u32>,
}

impl Pcg64 {
    /// `np.random.PCG64(seed)`: seeded through `SeedSequence`.
    pub fn new(seed: u64) -> Self {
        let s = seed_sequence_state(seed);
        let init_state = (u128::from(s[0]) << 64) | u128::from(s[1]);
        let init_seq = (u128::from(s[2]) << 64) | u128::from(s[3]);
        let inc = (init_seq << 1) | 1;
        let mut state = 0u128.wrapping_mul(PCG_MULT).wrapping_add(inc);
        state = state.wrapping_add(init_state);
        state = state.wrapping_mul(PCG_MULT).wrapping_add(inc);
        Self {
            state,
            inc,
            buffered_u32: None,
        }
    }

    /// `PCG64.random_raw()`: the next 64-bit output (leaves the 32-bit buffer alone).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
        let s = self.state;
        let xored = ((s >> 64) as u64) ^ (s as u64);
        xored.rotate_right((s >> 122) as u32)
    }

    /// numpy's `next_uint32`: the low half of a fresh 64-bit draw, the high half kept for next time.
    pub fn next_u32(&mut self) -> u32 {
        if let Some(v) = self.buffered_u32.take() {
            return v;
        }
        let v = self.next_u64();
        self.buffered_u32 = Some((v >> 32) as u32);
        v as u32
    }

    /// numpy's `next_double`: 53 random bits in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// `np.random.default_rng(seed)`: a `Generator` over [`Pcg64`] with the distributions POGEMA and
/// pogema-toolbox draw from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumpyRng {
    bits: Pcg64,
}

impl NumpyRng {
    /// `np.random.default_rng(seed)`.
    pub fn new(seed: u64) -> Self {
        Self {
            bits: Pcg64::new(seed),
        }
    }

    /// `default_rng(None)`: seeded from OS entropy (not reproducible, as in numpy).
    pub fn from_entropy() -> Self {
        Self::new(entropy_seed())
    }

    /// Access to the raw bit generator.
    pub fn bits(&mut self) -> &mut Pcg64 {
        &mut self.bits
    }

    /// `Generator.random()`: a double in `[0, 1)`.
    pub fn random(&mut self) -> f64 {
        self.bits.next_f64()
    }

    /// `Generator.uniform(low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.bits.next_f64()
    }

    /// `Generator.binomial(1, p)`: one Bernoulli draw by numpy's inversion algorithm.
    ///
    /// `p` must lie in `[0, 1]` (checked by the callers' config validation).
    pub fn binomial_one(&mut self, p: f64) -> u8 {
        if p == 0.0 {
            return 0;
        }
        if p <= 0.5 {
            self.binomial_inversion_one(p)
        } else {
            1 - self.binomial_inversion_one(1.0 - p)
        }
    }

    /// numpy's `random_binomial_inversion` with `n = 1`.
    fn binomial_inversion_one(&mut self, p: f64) -> u8 {
        let q = 1.0 - p;
        let qn = (1.0 * q.ln()).exp();
        let np = p;
        let bound = f64::min(1.0, np + 10.0 * (np * q + 1.0).sqrt()) as i64;
        let mut x: i64 = 0;
        let mut px = qn;
        let mut u = self.bits.next_f64();
        while u > px {
            x += 1;
            if x > bound {
                x = 0;
                px = qn;
                u = self.bits.next_f64();
            } else {
                u -= px;
                px = ((1 - x + 1) as f64 * p * px) / (x as f64 * q);
            }
        }
        x as u8
    }

    /// numpy's `random_interval(max)`: uniform in `[0, max]` by masked rejection (used by `shuffle`).
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        if max <= 0xFFFF_FFFF {
            loop {
                let v = u64::from(self.bits.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.bits.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `Generator.shuffle(list)` for a Python list (Fisher–Yates from the back).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.random_interval(i as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `Generator.integers(low, high)` (exclusive `high`, int64) for ranges below 2^32.
    ///
    /// # Panics
    /// If `high <= low` or the range exceeds 2^32 (programmer errors; POGEMA never draws those).
    pub fn integers(&mut self, low: i64, high: i64) -> i64 {
        assert!(high > low, "integers: empty range [{low}, {high})");
        let range = (high - 1 - low) as u64;
        assert!(
            range <= 0xFFFF_FFFF,
            "integers: range {range} needs numpy's 64-bit path"
        );
        if range == 0 {
            return low;
        }
        if range == 0xFFFF_FFFF {
            return low + i64::from(self.bits.next_u32());
        }
        low + self.lemire32(range as u32) as i64
    }

    /// numpy's `buffered_bounded_lemire_uint32`: uniform in `[0, range]`.
    fn lemire32(&mut self, range: u32) -> u64 {
        let extent = u64::from(range) + 1;
        let mut m = u64::from(self.bits.next_u32()) * extent;
        let mut low = m as u32;
        if u64::from(low) < extent {
            let threshold = ((0xFFFF_FFFFu64 - u64::from(range)) % extent) as u32;
            while low < threshold {
                m = u64::from(self.bits.next_u32()) * extent;
                low = m as u32;
            }
        }
        m >> 32
    }

    /// `Generator.choice(n, 1)` / `choice(list_of_n_items, 1)`: an index in `[0, n)`.
    pub fn choice_index(&mut self, n: usize) -> usize {
        self.integers(0, n as i64) as usize
    }

    /// `Generator.choice(range(len(probs)), p=probs)`: an index drawn by the normalised CDF.
    pub fn choice_weighted(&mut self, probs: &[f64]) -> usize {
        let mut cdf = [0.0f64; 4];
        let mut owned;
        let cdf: &mut [f64] = if probs.len() <= cdf.len() {
            &mut cdf[..probs.len()]
        } else {
            owned = vec![0.0; probs.len()];
            &mut owned[..]
        };
        let mut acc = 0.0;
        for (c, &p) in cdf.iter_mut().zip(probs) {
            acc += p;
            *c = acc;
        }
        let total = cdf[cdf.len() - 1];
        for c in cdf.iter_mut() {
            *c /= total;
        }
        let u = self.bits.next_f64();
        cdf.iter().filter(|&&c| c <= u).count()
    }
}

/// SplitMix64's output function (a 64-bit finaliser), used to mix seeds.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64: rmapf's own small explicit random stream (policies, sampling, seed schedules,
/// test-case generation). Not numpy's: instance generation uses [`NumpyRng`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The weyl-sequence increment.
    pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, 1)` with 24 random bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The scripted random actions of rmapf's differential tests, demos and benchmarks: a 64-bit LCG
/// (`state = state·6364136223846793005 + 1442695040888963407`) advanced once per agent, action
/// `(state >> 33) % 5`. The Python side of the parity tests draws the same stream.
pub fn lcg_actions(state: &mut u64, out: &mut [u8]) {
    for a in out.iter_mut() {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *a = ((*state >> 33) % 5) as u8;
    }
}

/// A seed from OS entropy in numpy's accepted range, for `seed = None`.
pub fn entropy_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS entropy source: fall back to the clock, which is still not reproducible.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    u64::from_le_bytes(bytes) >> 1
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values printed by numpy 1.26.4: `np.random.SeedSequence(seed).generate_state(4, np.uint64)`
    // and `np.random.PCG64(0).random_raw(3)`; tests/numpy_rng.rs checks many more seeds.
    #[test]
    fn seed_sequence_matches_numpy() {
        assert_eq!(
            seed_sequence_state(0),
            [
                0xdb2cd7e7b0f478be,
                0xabf4641a2c71ba49,
                0x20c6ed6d9d7b8d41,
                0x2c4099de223c39d4
            ]
        );
        assert_eq!(
            seed_sequence_state((1 << 40) + 5),
            [
                0xdae41755e08a170b,
                0x8415abe87ecdcb2c,
                0x2525c5b44b9118d0,
                0x42c2793f3392bed3
            ]
        );
    }

    #[test]
    fn pcg64_raw_matches_numpy() {
        let mut bits = Pcg64::new(0);
        let raw: Vec<u64> = (0..3).map(|_| bits.next_u64()).collect();
        assert_eq!(
            raw,
            [0xa30febcfd9c2825f, 0x4510bdf882d9d721, 0x0a7d3da94ecde8b8]
        );
    }

    #[test]
    fn buffered_u32_survives_u64_draws() {
        let mut a = Pcg64::new(7);
        let mut b = Pcg64::new(7);
        let first = a.next_u32();
        let raw = b.next_u64();
        assert_eq!(first, raw as u32);
        let _ = a.next_u64();
        assert_eq!(a.next_u32(), (raw >> 32) as u32);
    }

    #[test]
    fn integers_single_value_draws_nothing() {
        let mut a = NumpyRng::new(3);
        let b = a.clone();
        assert_eq!(a.integers(5, 6), 5);
        assert_eq!(a, b);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = NumpyRng::new(11);
        let mut v: Vec<u32> = (0..100).collect();
        rng.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
