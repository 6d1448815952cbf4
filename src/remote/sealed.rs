//! Encryption of the secrets the authorisation servers keep in shared state (Redis): a Halo
//! application's client secret in `MCP_AUTH=oauth`. Redis is often run by someone else, backed
//! up, or replicated, so nothing that would let its reader call Halo is written there in the
//! clear.
//!
//! The key comes from `HALO_MCP_STATE_KEY`: exactly 32 random bytes, written as 64 hex digits or
//! as base64 (standard or URL-safe, padded or not). A passphrase is deliberately not accepted:
//! stretching one would need a slow KDF and a salt kept somewhere, while a random key is one
//! `openssl rand -base64 32` away. Several keys may be given, separated by commas: the first
//! seals, every one of them opens, so a key can be rotated without signing every client out
//! (add the new key first, restart every replica, then drop the old one once the longest
//! lifetime has passed).
//!
//! AES-256-GCM with a fresh random 96-bit nonce per value. The Redis key a value is stored
//! under is the associated data, so a sealed value copied under another key does not open.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};

/// The variable that holds the key(s).
pub const STATE_KEY_VAR: &str = "HALO_MCP_STATE_KEY";

/// A format tag in front of every sealed value, so a later scheme can be told apart.
const TAG: &str = "g1.";

/// The keys: the first seals, all open.
pub struct Sealer {
    keys: Vec<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        write!(f, "Sealer({} key(s))", self.keys.len())
    }
}

/// Why a value does not open. Says nothing about the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsealable;

impl Sealer {
    /// Parses the setting. The error names the variable and the expected form, never the
    /// value given.
    pub fn from_setting(value: &str) -> Result<Sealer, String> {
        let mut keys = Vec::new();
        for (i, part) in value.split(',').map(str::trim).enumerate() {
            let bytes = decode_key(part).ok_or_else(|| {
                let which = if value.contains(',') {
                    format!(" (key {} of the list)", i + 1)
                } else {
                    String::new()
                };
                format!(
                    "{STATE_KEY_VAR}{which} must be 32 random bytes as 64 hex digits or base64 \
                     (make one with `openssl rand -base64 32`)"
                )
            })?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| format!("{STATE_KEY_VAR}: not a usable AES-256 key"))?;
            keys.push(LessSafeKey::new(unbound));
        }
        Ok(Sealer {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// `plain` sealed for storage under `context` (the Redis key): text safe to store.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<String, String> {
        let key = self.keys.first().ok_or("no key to seal with")?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| "no randomness available".to_owned())?;
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut buf,
        )
        .map_err(|_| "encryption failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{TAG}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The plain bytes of a value [`Sealer::seal`] made for the same `context`, with any of
    /// the keys.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, Unsealable> {
        let raw = sealed
            .strip_prefix(TAG)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .ok_or(Unsealable)?;
        if raw.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        for key in &self.keys {
            let Ok(nonce) = Nonce::try_assume_unique_for_key(nonce) else {
                return Err(Unsealable);
            };
            let mut buf = body.to_vec();
            if let Ok(plain) = key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf) {
                return Ok(plain.to_vec());
            }
        }
        Err(Unsealable)
    }
}

/// 32 bytes from hex or base64; `None` for anything else (shorter, longer, a passphrase).
fn decode_key(text: &str) -> Option<Vec<u8>> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..32)
            .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
    }
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .filter(|b| b.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn round_trip_bound_to_its_context_and_random_per_value() {
        let s = Sealer::from_setting(KEY).unwrap();
        let a = s.seal("k1", b"the-secret").unwrap();
        let b = s.seal("k1", b"the-secret").unwrap();
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("the-secret"));
        assert_eq!(s.open("k1", &a).unwrap(), b"the-secret");
        assert_eq!(s.open("k2", &a), Err(Unsealable), "moved under another key");
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(s.open("k1", &tampered), Err(Unsealable));
    }

    #[test]
    fn keys_rotate_the_first_seals_and_all_open() {
        let old = Sealer::from_setting(KEY).unwrap();
        let sealed_old = old.seal("k", b"x").unwrap();
        let both = Sealer::from_setting(&format!("{KEY2}, {KEY}")).unwrap();
        assert_eq!(both.open("k", &sealed_old).unwrap(), b"x");
        let sealed_new = both.seal("k", b"y").unwrap();
        assert_eq!(old.open("k", &sealed_new), Err(Unsealable));
        let new = Sealer::from_setting(KEY2).unwrap();
        assert_eq!(new.open("k", &sealed_new).unwrap(), b"y");
    }

    #[test]
    fn short_or_passphrase_keys_are_refused_without_echoing_them() {
        for bad in [
            "",
            "hunter2",
            "c2hvcnQ=",
            &"ab".repeat(31),
            "not base64 at all!!",
        ] {
            let e = Sealer::from_setting(bad).unwrap_err();
            assert!(e.contains(STATE_KEY_VAR) && e.contains("32"), "{e}");
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
        let e = Sealer::from_setting(&format!("{KEY},short")).unwrap_err();
        assert!(e.contains("key 2"), "{e}");
        assert!(Sealer::from_setting(&KEY2.to_uppercase()).is_ok());
        assert!(Sealer::from_setting(KEY.trim_end_matches('=')).is_ok());
    }
}
