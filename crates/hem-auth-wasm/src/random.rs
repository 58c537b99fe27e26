//! Randomness from JavaScript, without a panic.
//!
//! The entropy is WebCrypto's `crypto.getRandomValues` (in Node, `globalThis.crypto`, else
//! `crypto.randomFillSync`), reached through `getrandom` with its `js` feature: the path
//! `rand_core`'s `OsRng` itself takes on wasm32, with no JavaScript glue of ours and never
//! `Math.random`.
//!
//! `OsRng` is not handed to the core, though: its `fill_bytes` panics when `getrandom` fails
//! (a runtime without WebCrypto), and a panic must never reach JavaScript. Each operation that
//! needs randomness instead draws one 32-byte seed with the fallible `getrandom::getrandom`
//! (a failure is the `random.unavailable` error) and runs on a ChaCha20 seeded from it, which
//! cannot fail; the generator lives for that one call and keeps no state between calls (so a
//! later snapshot of the device holds no generator state to duplicate).

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::error::{Failure, Outcome};

/// A CSPRNG for one operation, seeded from the platform's entropy.
pub(crate) fn operation_rng() -> Outcome<ChaCha20Rng> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| {
        Failure::new(
            "random.unavailable",
            format!("no cryptographic randomness (crypto.getRandomValues): {e}"),
        )
    })?;
    let rng = ChaCha20Rng::from_seed(seed);
    // The generator copied the seed into its key; this copy goes.
    seed.fill(0);
    Ok(rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::RngCore;

    #[test]
    fn two_operations_draw_different_streams() {
        let (mut a, mut b) = (
            operation_rng().unwrap_or_else(|_| ChaCha20Rng::from_seed([1; 32])),
            operation_rng().unwrap_or_else(|_| ChaCha20Rng::from_seed([2; 32])),
        );
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
