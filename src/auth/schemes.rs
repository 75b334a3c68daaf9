//! The password hash schemes a customer signs in with: this product's own PHC PBKDF2 and those
//! of the shops a retailer moves from (SPEC §8.3). A stored hash says its scheme by its shape
//! alone; a hash of no known shape, or with parameters past the bounds below, never signs in.
//!
//! Each legacy scheme is checked as its platform checks it (the source file is named at each
//! function) and compared in constant time. The checks are blocking work: they run on the
//! hashing lane (see [`super::PasswordHasher`]), which also replaces a matched legacy hash with
//! this product's own.

use std::sync::{Condvar, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// A password hash scheme, named as `customers show --json` names it (`password_scheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// phpass portable hashes, `$P$` / `$H$`: WordPress ≤ 6.7, WooCommerce, phpBB.
    Phpass,
    /// `$wp$2y$…`: WordPress ≥ 6.8.
    WordpressBcrypt,
    /// `$2a$` / `$2b$` / `$2y$`: Shopware 6, PrestaShop ≥ 1.7, Laravel, Sylius.
    Bcrypt,
    /// PHC `$argon2id$…` / `$argon2i$…`: Sylius, Symfony, others.
    Argon2,
    /// `<hex>:<salt>:<versions>`: Magento 2's SHA-256 (`1`) and Argon2id13 (`2`, `3_…`) forms.
    Magento2,
    /// `pbkdf2_sha256$<iterations>$<salt>$<base64>`: Django, Saleor.
    DjangoPbkdf2Sha256,
    /// `$S$…`: Drupal 7, Drupal Commerce.
    Drupal7,
    /// PHC `$pbkdf2-sha256$…`: this product's own.
    Pbkdf2Sha256,
}

/// The most memory one Argon2 check may take, in KiB: libsodium's "moderate" limit (256 MiB).
/// A hash asking for more is of no known shape.
const MAX_ARGON2_KIB: u32 = 256 * 1024;
/// How many Argon2 checks run at once, whatever the number of hashing threads: with
/// [`MAX_ARGON2_KIB`], at most 512 MiB of memory.
const MAX_ARGON2_AT_ONCE: usize = 2;
/// The highest bcrypt cost that signs in (2^16 rounds: several seconds); PHP allows 31.
const MAX_BCRYPT_COST: u32 = 16;
/// The most rounds a Django hash may ask for (Django 5.2 uses 1,000,000).
const MAX_DJANGO_ROUNDS: u32 = 10_000_000;

/// phpass's and Drupal's base64 alphabet (phpass `$itoa64`).
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Scheme {
    /// The scheme of a stored hash, recognised by its shape, or `None` when it has none known.
    pub fn of(hash: &str) -> Option<Scheme> {
        let scheme = if hash.starts_with("$pbkdf2-sha256$") {
            Scheme::Pbkdf2Sha256
        } else if hash.starts_with("$P$") || hash.starts_with("$H$") {
            Scheme::Phpass
        } else if hash.starts_with("$S$") {
            Scheme::Drupal7
        } else if hash.starts_with("$wp$") {
            Scheme::WordpressBcrypt
        } else if hash.starts_with("$2") {
            Scheme::Bcrypt
        } else if hash.starts_with("$argon2") {
            Scheme::Argon2
        } else if hash.starts_with("pbkdf2_sha256$") {
            Scheme::DjangoPbkdf2Sha256
        } else if hash.contains(':') {
            Scheme::Magento2
        } else {
            return None;
        };
        scheme.well_formed(hash).then_some(scheme)
    }

    /// The scheme's name in `customers show --json` and in SPEC §8.3.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Phpass => "phpass",
            Scheme::WordpressBcrypt => "wordpress_bcrypt",
            Scheme::Bcrypt => "bcrypt",
            Scheme::Argon2 => "argon2",
            Scheme::Magento2 => "magento2",
            Scheme::DjangoPbkdf2Sha256 => "django_pbkdf2_sha256",
            Scheme::Drupal7 => "drupal7",
            Scheme::Pbkdf2Sha256 => "pbkdf2_sha256",
        }
    }

    fn well_formed(self, hash: &str) -> bool {
        match self {
            Scheme::Pbkdf2Sha256 => pbkdf2::phc::PasswordHash::new(hash).is_ok(),
            Scheme::Phpass => portable(hash, 34).is_some(),
            Scheme::Drupal7 => portable(hash, 55).is_some(),
            Scheme::WordpressBcrypt => bcrypt_shape(&hash[3..]),
            Scheme::Bcrypt => bcrypt_shape(hash),
            Scheme::Argon2 => argon2_phc(hash).is_some(),
            Scheme::Magento2 => magento(hash).is_some(),
            Scheme::DjangoPbkdf2Sha256 => django(hash).is_some(),
        }
    }

    /// Whether checking a wrong password against `hash` costs at least as much as checking
    /// one against a native hash of `iterations` rounds, by construction: only a PBKDF2-SHA256
    /// of as many rounds or more is. The cost of bcrypt or Argon2 against PBKDF2 depends on
    /// the machine, so they count as cheaper.
    pub(super) fn costs_at_least_native(self, hash: &str, iterations: u32) -> bool {
        match self {
            Scheme::DjangoPbkdf2Sha256 => django(hash).is_some_and(|d| d.rounds >= iterations),
            _ => false,
        }
    }
}

/// Whether `password` matches `hash` of the legacy `scheme` (never for the native one, which
/// the hasher checks itself, nor for a hash of another shape).
pub(super) fn legacy_matches(scheme: Scheme, hash: &str, password: &str) -> bool {
    if Scheme::of(hash) != Some(scheme) {
        return false;
    }
    let password = password.as_bytes();
    match scheme {
        Scheme::Phpass => phpass_matches(hash, password),
        Scheme::Drupal7 => drupal7_matches(hash, password),
        Scheme::WordpressBcrypt => wordpress_matches(hash, password),
        Scheme::Bcrypt => bcrypt::verify(password, hash).unwrap_or(false),
        Scheme::Argon2 => argon2_matches(hash, password),
        Scheme::Magento2 => magento_matches(hash, password),
        Scheme::DjangoPbkdf2Sha256 => django_matches(hash, password),
        Scheme::Pbkdf2Sha256 => false,
    }
}

/// The base-2 logarithm of the round count of a phpass-style hash (`$P$`, `$H$`, `$S$`) of
/// `len` characters: the letter after the prefix, 7 to 30, then an 8-character salt.
fn portable(hash: &str, len: usize) -> Option<u32> {
    let bytes = hash.as_bytes();
    if bytes.len() != len || !bytes[3..].iter().all(|b| ITOA64.contains(b)) {
        return None;
    }
    let log2 = ITOA64.iter().position(|c| *c == bytes[3])? as u32;
    (7..=30).contains(&log2).then_some(log2)
}

/// phpass's `encode64`: 6 bits at a time, least significant first.
fn encode64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, b)| v | (u32::from(*b) << (8 * i)));
        for k in 0..=chunk.len() {
            out.push(ITOA64[((value >> (6 * k)) & 0x3f) as usize]);
        }
    }
    out
}

/// phpass `CryptPrivate` (WordPress wp-includes/class-phpass.php): MD5 of salt and password,
/// then 2^n times MD5 of the hash and the password.
fn phpass_matches(hash: &str, password: &[u8]) -> bool {
    let Some(log2) = portable(hash, 34) else {
        return false;
    };
    let salt = &hash.as_bytes()[4..12];
    let mut digest = Md5::new()
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    for _ in 0..(1u64 << log2) {
        digest = Md5::new()
            .chain_update(digest)
            .chain_update(password)
            .finalize();
    }
    encode64(&digest).ct_eq(&hash.as_bytes()[12..]).into()
}

/// Drupal 7 `_password_crypt('sha512', …)` (includes/password.inc): as phpass with SHA-512,
/// the result cut to DRUPAL_HASH_LENGTH (55) characters.
fn drupal7_matches(hash: &str, password: &[u8]) -> bool {
    let Some(log2) = portable(hash, 55) else {
        return false;
    };
    let salt = &hash.as_bytes()[4..12];
    let mut digest = Sha512::new()
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    for _ in 0..(1u64 << log2) {
        digest = Sha512::new()
            .chain_update(digest)
            .chain_update(password)
            .finalize();
    }
    encode64(&digest)[..43].ct_eq(&hash.as_bytes()[12..]).into()
}

/// `$2a$`/`$2b$`/`$2y$`, a two-digit cost this product accepts, 53 characters of bcrypt's
/// alphabet.
fn bcrypt_shape(hash: &str) -> bool {
    let bytes = hash.as_bytes();
    bytes.len() == 60
        && matches!(&bytes[..4], b"$2a$" | b"$2b$" | b"$2y$")
        && bytes[6] == b'$'
        && hash[4..6]
            .parse::<u32>()
            .is_ok_and(|cost| (4..=MAX_BCRYPT_COST).contains(&cost))
        && bytes[7..].iter().all(|b| ITOA64.contains(b))
}

/// WordPress 6.8 `wp_check_password` (wp-includes/pluggable.php): bcrypt of
/// base64(HMAC-SHA384(key "wp-sha384", password)), the hash after its `$wp` prefix.
fn wordpress_matches(hash: &str, password: &[u8]) -> bool {
    let mut mac = hmac::Hmac::<Sha384>::new_from_slice(b"wp-sha384").expect("any key length");
    mac.update(password);
    let pre = STANDARD.encode(mac.finalize().into_bytes());
    bcrypt::verify(pre, &hash[3..]).unwrap_or(false)
}

/// A PHC Argon2 string (`argon2id` or `argon2i`) within the memory bound.
fn argon2_phc(hash: &str) -> Option<argon2::PasswordHash<'_>> {
    let parsed = argon2::PasswordHash::new(hash).ok()?;
    let known = matches!(parsed.algorithm.as_str(), "argon2id" | "argon2i");
    let params = argon2::Params::try_from(&parsed).ok()?;
    (known && params.m_cost() <= MAX_ARGON2_KIB && parsed.hash.is_some()).then_some(parsed)
}

fn argon2_matches(hash: &str, password: &[u8]) -> bool {
    use argon2::PasswordVerifier as _;
    let Some(parsed) = argon2_phc(hash) else {
        return false;
    };
    let _slot = ArgonSlot::take();
    argon2::Argon2::default()
        .verify_password(password, &parsed)
        .is_ok()
}

/// One of the [`MAX_ARGON2_AT_ONCE`] places for an Argon2 check, held while it runs.
struct ArgonSlot;

static ARGON_RUNNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

impl ArgonSlot {
    fn take() -> ArgonSlot {
        let (running, freed) = &ARGON_RUNNING;
        let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= MAX_ARGON2_AT_ONCE {
            running = freed.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        ArgonSlot
    }
}

impl Drop for ArgonSlot {
    fn drop(&mut self) {
        let (running, freed) = &ARGON_RUNNING;
        *running.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        freed.notify_one();
    }
}

/// One step of a Magento 2 hash's version chain (Encryptor.php `isValidHash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MagentoStep {
    Md5,
    Sha256,
    /// libsodium `crypto_pwhash` Argon2id13: output bytes, opslimit, memlimit in bytes.
    Argon {
        seed: usize,
        ops: u32,
        mem: u32,
    },
}

/// `<hex>:<salt>:<version>[:<version>…]`, as Magento 2's Encryptor `explodePasswordHash`
/// splits it: the versions are applied left to right, each to the previous one's hex.
fn magento(hash: &str) -> Option<(&str, &str, Vec<MagentoStep>)> {
    let mut parts = hash.splitn(3, ':');
    let (hex, salt, versions) = (parts.next()?, parts.next()?, parts.next()?);
    let steps = versions
        .split(':')
        .map(|v| match v {
            "0" => Some(MagentoStep::Md5),
            "1" => Some(MagentoStep::Sha256),
            "2" => Some(MagentoStep::Argon {
                seed: 32,
                ops: 2,
                mem: 64 << 20,
            }),
            _ => {
                let mut p = v.strip_prefix("3_")?.split('_');
                let mut number = || p.next()?.parse::<u32>().ok();
                let (seed, ops, mem) = (number()?, number()?, number()?);
                let fits = (16..=64).contains(&seed)
                    && (1..=16).contains(&ops)
                    && (8192..=MAX_ARGON2_KIB as u64 * 1024).contains(&u64::from(mem));
                (fits && p.next().is_none()).then_some(MagentoStep::Argon {
                    seed: seed as usize,
                    ops,
                    mem,
                })
            }
        })
        .collect::<Option<Vec<_>>>()?;
    let hex_len = match steps.last()? {
        MagentoStep::Md5 => 32,
        MagentoStep::Sha256 => 64,
        MagentoStep::Argon { seed, .. } => seed * 2,
    };
    let well_formed =
        hex.len() == hex_len && hex.bytes().all(|b| b.is_ascii_hexdigit()) && !salt.is_empty();
    well_formed.then_some((hex, salt, steps))
}

/// Magento 2 `Encryptor::isValidHash` (lib/internal/Magento/Framework/Encryption/Encryptor.php):
/// MD5 or SHA-256 hex of salt and the data, or `getArgonHash`: the salt repeated or cut to 16
/// bytes, Argon2id 1.3 with parallelism 1, hex.
fn magento_matches(hash: &str, password: &[u8]) -> bool {
    let Some((expected, salt, steps)) = magento(hash) else {
        return false;
    };
    let salt = salt.as_bytes();
    let mut recreated = password.to_vec();
    for step in steps {
        recreated = match step {
            MagentoStep::Md5 => hex(&Md5::new()
                .chain_update(salt)
                .chain_update(&recreated)
                .finalize()),
            MagentoStep::Sha256 => hex(&Sha256::new()
                .chain_update(salt)
                .chain_update(&recreated)
                .finalize()),
            MagentoStep::Argon { seed, ops, mem } => {
                let salt16: Vec<u8> = salt.iter().copied().cycle().take(16).collect();
                let Ok(params) = argon2::Params::new(mem / 1024, ops, 1, Some(seed)) else {
                    return false;
                };
                let argon = argon2::Argon2::new(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    params,
                );
                let mut out = vec![0u8; seed];
                let _slot = ArgonSlot::take();
                if argon
                    .hash_password_into(&recreated, &salt16, &mut out)
                    .is_err()
                {
                    return false;
                }
                hex(&out)
            }
        };
    }
    recreated
        .ct_eq(expected.to_ascii_lowercase().as_bytes())
        .into()
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

/// A Django hash's parts.
struct Django<'a> {
    rounds: u32,
    salt: &'a str,
    hash: Vec<u8>,
}

/// `pbkdf2_sha256$<rounds>$<salt>$<base64 of 32 bytes>`.
fn django(hash: &str) -> Option<Django<'_>> {
    let mut parts = hash.split('$');
    let (_, rounds, salt, b64) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let rounds: u32 = rounds.parse().ok()?;
    let decoded = STANDARD.decode(b64).ok()?;
    let fits = (1..=MAX_DJANGO_ROUNDS).contains(&rounds)
        && !salt.is_empty()
        && decoded.len() == 32
        && parts.next().is_none();
    fits.then_some(Django {
        rounds,
        salt,
        hash: decoded,
    })
}

/// Django `PBKDF2PasswordHasher.verify` (django/contrib/auth/hashers.py): PBKDF2-HMAC-SHA256
/// of the password with the salt's UTF-8 bytes, 32 bytes.
fn django_matches(hash: &str, password: &[u8]) -> bool {
    let Some(d) = django(hash) else {
        return false;
    };
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, d.salt.as_bytes(), d.rounds, &mut out);
    out.ct_eq(&d.hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One vector of `tests/vectors/password_hashes.json` (made by `tests/vectors/make.py`
    /// with the platforms' own algorithms, never by this code).
    #[derive(serde::Deserialize)]
    struct Vector {
        scheme: String,
        hash: String,
        password: String,
        wrong: String,
        source: String,
    }

    fn vectors(scheme: Scheme) -> Vec<Vector> {
        let all: Vec<Vector> =
            serde_json::from_str(include_str!("../../tests/vectors/password_hashes.json")).unwrap();
        let of: Vec<Vector> = all
            .into_iter()
            .filter(|v| v.scheme == scheme.name())
            .collect();
        assert!(!of.is_empty(), "no vectors of {}", scheme.name());
        of
    }

    fn check(scheme: Scheme) {
        for v in vectors(scheme) {
            assert_eq!(
                Scheme::of(&v.hash),
                Some(scheme),
                "{} ({})",
                v.hash,
                v.source
            );
            assert!(
                legacy_matches(scheme, &v.hash, &v.password),
                "{} must sign in with {:?} ({})",
                v.hash,
                v.password,
                v.source
            );
            assert!(
                !legacy_matches(scheme, &v.hash, &v.wrong),
                "{} must refuse {:?} ({})",
                v.hash,
                v.wrong,
                v.source
            );
        }
    }

    #[test]
    fn phpass_vectors_sign_in() {
        check(Scheme::Phpass);
    }

    #[test]
    fn wordpress_bcrypt_vectors_sign_in() {
        check(Scheme::WordpressBcrypt);
    }

    #[test]
    fn bcrypt_vectors_sign_in() {
        check(Scheme::Bcrypt);
    }

    #[test]
    fn argon2_vectors_sign_in() {
        check(Scheme::Argon2);
    }

    #[test]
    fn magento2_vectors_sign_in() {
        check(Scheme::Magento2);
    }

    #[test]
    fn django_vectors_sign_in() {
        check(Scheme::DjangoPbkdf2Sha256);
    }

    #[test]
    fn drupal7_vectors_sign_in() {
        check(Scheme::Drupal7);
    }

    #[test]
    fn own_pbkdf2_vectors_are_recognised() {
        // The hasher verifies these (see hasher.rs); here only their shape.
        for v in vectors(Scheme::Pbkdf2Sha256) {
            assert_eq!(Scheme::of(&v.hash), Some(Scheme::Pbkdf2Sha256));
            assert!(!legacy_matches(Scheme::Pbkdf2Sha256, &v.hash, &v.password));
        }
    }

    #[test]
    fn hashes_of_no_known_shape_are_not_recognised() {
        for junk in [
            "",
            "plain text",
            "5f4dcc3b5aa765d61d8327deb882cf99",
            "$P$Btooshort",
            "$P$~abcdefghabcdefghabcdefghabcdefg",
            "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$argon2d$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "abc:salt:1",
            "cf4c09f47c3452a99d5a93999010d20227abacd47161fedd8203e23f6c3a1b2c:salt:9",
            "cf4c09f47c3452a99d5a93999010d20227abacd47161fedd8203e23f6c3a1b2c::1",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2_sha1$1000$salt$jJza5zQhrCbQj4E/GIiAAAAAAAAAAAAAAAAAAAAAAAA=",
            "$S$Dshort",
        ] {
            assert_eq!(Scheme::of(junk), None, "{junk}");
        }
    }

    #[test]
    fn only_pbkdf2_of_as_many_rounds_counts_as_costing_what_a_native_check_does() {
        let django = "pbkdf2_sha256$260000$seasalt$jJza5zQhrCbQj4E/GIiAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(Scheme::of(django), Some(Scheme::DjangoPbkdf2Sha256));
        assert!(Scheme::DjangoPbkdf2Sha256.costs_at_least_native(django, 260_000));
        assert!(!Scheme::DjangoPbkdf2Sha256.costs_at_least_native(django, 600_000));
        assert!(!Scheme::Bcrypt.costs_at_least_native(django, 1));
    }
}
