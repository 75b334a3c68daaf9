#!/usr/bin/env python3
"""Writes tests/vectors/password_hashes.json: password hashes of every scheme that
customer-area signs in with (SPEC section 8.3), made by the platforms' own algorithms and
never by customer-area's code.

  - phpass and Django's pbkdf2_sha256: passlib's handlers (PyPI `passlib`);
  - bcrypt: the `bcrypt` package (PyPI), the OpenBSD algorithm;
  - Argon2: `argon2-cffi` (PyPI), the reference C implementation;
  - WordPress 6.8, Magento 2, Drupal 7 and customer-area's own PHC PBKDF2: Python's hashlib
    and hmac, written from each platform's published source (cited at each function), with
    bcrypt and Argon2 from the packages above.

Salts are fixed, so that the output is the same on every run: `make.py --check` regenerates
the vectors and compares them with the committed file (the Rust test
`password_vectors_are_what_the_reference_implementations_make` runs it when the venv exists).
Published vectors (passlib's test suite, the OpenBSD bcrypt suite, the Argon2 reference
implementation's test.c) are checked here with the reference implementations before they are
written. Each vector: the hash, a password that must sign in, one that must not.
"""

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path

import argon2.low_level as argon2
import bcrypt
from passlib.hash import django_pbkdf2_sha256, phpass

OUT = Path(__file__).with_name("password_hashes.json")
WRONG_SUFFIX = "!"

# phpass's and Drupal's own base64 alphabet and bit order (phpass `encode64`).
ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def encode64(data: bytes, count: int) -> str:
    out, i = [], 0
    while i < count:
        value = data[i]
        i += 1
        out.append(ITOA64[value & 0x3F])
        if i < count:
            value |= data[i] << 8
        out.append(ITOA64[(value >> 6) & 0x3F])
        if i >= count:
            break
        i += 1
        if i < count:
            value |= data[i] << 16
        out.append(ITOA64[(value >> 12) & 0x3F])
        if i >= count:
            break
        i += 1
        out.append(ITOA64[(value >> 18) & 0x3F])
    return "".join(out)


def drupal7(password: str, salt: str, log2: int) -> str:
    """Drupal 7, includes/password.inc `_password_crypt('sha512', ...)`: SHA-512 of salt and
    password, then 2^log2 times SHA-512 of the hash and the password; `$S$`, the count's
    letter, the 8-character salt and the hash in phpass's base64, cut to DRUPAL_HASH_LENGTH
    (55) characters."""
    pw = password.encode()
    digest = hashlib.sha512(salt.encode() + pw).digest()
    for _ in range(1 << log2):
        digest = hashlib.sha512(digest + pw).digest()
    setting = "$S$" + ITOA64[log2] + salt
    return (setting + encode64(digest, len(digest)))[:55]


def wordpress_bcrypt(password: str, salt: bytes) -> str:
    """WordPress 6.8, wp-includes/pluggable.php `wp_hash_password`: bcrypt of
    base64(HMAC-SHA384(key "wp-sha384", password)), prefixed `$wp`."""
    pre = base64.b64encode(hmac.new(b"wp-sha384", password.encode(), hashlib.sha384).digest())
    return "$wp" + bcrypt.hashpw(pre, salt).decode()


def magento2_sha256(password: str, salt: str) -> str:
    """Magento 2, lib/internal/Magento/Framework/Encryption/Encryptor.php `getHash` with
    HASH_VERSION_SHA256: hex SHA-256 of salt . password, then `:salt:1`."""
    return hashlib.sha256((salt + password).encode()).hexdigest() + ":" + salt + ":1"


def magento2_argon(data: str, salt: str, seed: int = 32, ops: int = 2, mem: int = 67108864) -> str:
    """Magento 2, Encryptor.php `getArgonHash`: libsodium's crypto_pwhash (Argon2id 1.3,
    parallelism 1) of the data with the salt padded by repeating it, or cut, to 16 bytes;
    opslimit and memlimit (bytes) as in the version `3_<seed>_<ops>_<mem>`, hex output."""
    s = salt.encode()
    s = (s * 16)[:16]
    raw = argon2.hash_secret_raw(
        data.encode(), s, time_cost=ops, memory_cost=mem // 1024, parallelism=1,
        hash_len=seed, type=argon2.Type.ID, version=19)
    return raw.hex()


def magento2_argon_agnostic(password: str, salt: str) -> str:
    return magento2_argon(password, salt) + ":" + salt + ":3_32_2_67108864"


def magento2_upgraded(password: str, salt: str) -> str:
    """A Magento 2 hash upgraded in place (`:1:2`): the SHA-256 hex of salt . password, then
    Argon2id13 of that hex with the default parameters (Encryptor.php `isValidHash` replays
    the versions left to right)."""
    first = hashlib.sha256((salt + password).encode()).hexdigest()
    return magento2_argon(first, salt) + ":" + salt + ":1:2"


def own_pbkdf2(password: str, salt: bytes, rounds: int) -> str:
    """customer-area's own PHC string, `$pbkdf2-sha256$i=<rounds>,l=32$<salt>$<hash>`, both
    in unpadded standard base64 (the PHC string format)."""
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, 32)
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
    return f"$pbkdf2-sha256$i={rounds},l=32${b64(salt)}${b64(dk)}"


def argon2_phc(password: str, salt: bytes, kind, t: int, m: int, p: int) -> str:
    return argon2.hash_secret(password.encode(), salt, time_cost=t, memory_cost=m,
                              parallelism=p, hash_len=32, type=kind, version=19).decode()


def vector(scheme, hash_, password, source, wrong=None):
    return {
        "scheme": scheme,
        "hash": hash_,
        "password": password,
        "wrong": wrong if wrong is not None else password + WRONG_SUFFIX,
        "source": source,
    }


def published(scheme, hash_, password, source, check):
    assert check(password, hash_), f"published vector does not verify: {hash_}"
    return vector(scheme, hash_, password, source)


def vectors():
    pw = "correct horse battery"  # the API tests' password (tests/api/common PASSWORD)
    v = []
    # phpass: WordPress <= 6.7 (`$P$B`, 2^13 rounds), phpBB (`$H$`).
    v.append(vector("phpass", phpass.using(salt="Wq8yoXvO", rounds=13).hash(pw), pw,
                    "passlib phpass, WordPress's 2^13 rounds"))
    v.append(vector("phpass", phpass.using(salt="9kQ.3/zA", rounds=11, ident="H").hash("pässwörd"),
                    "pässwörd", "passlib phpass, $H$ ident, UTF-8 password"))
    for p, h in [("test12345", "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0"),
                 ("compL3X!", "$P$FiS0N5L672xzQx1rt1vgdJQRYKnQM9/")]:
        v.append(published("phpass", h, p, "published: passlib's phpass test cases",
                           lambda p, h: phpass.verify(p, h)))
    # WordPress 6.8.
    v.append(vector("wordpress_bcrypt", wordpress_bcrypt(pw, b"$2y$10$Lq3U8bQ0kP7nXxR1mVdC9u"),
                    pw, "WordPress 6.8 wp_hash_password, cost 10"))
    v.append(vector("wordpress_bcrypt",
                    wordpress_bcrypt("a much longer passphrase that bcrypt alone would cut at seventy-two bytes, x",
                                     b"$2y$05$abcdefghijklmnopqrstuu"),
                    "a much longer passphrase that bcrypt alone would cut at seventy-two bytes, x",
                    "WordPress 6.8 wp_hash_password: past 72 bytes still counts"))
    # bcrypt: $2a$, $2b$, $2y$.
    for ident in ("2a", "2b", "2y"):
        salt = f"${ident}$05$M9XIFvHh3Nz0GcR8sYbQp.".encode()
        v.append(vector("bcrypt", bcrypt.hashpw(pw.encode(), salt).decode(), pw,
                        f"bcrypt (PyPI) ${ident}$, cost 5"))
    for p, h in [("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
                 ("", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.")]:
        v.append(published("bcrypt", h, p, "published: the OpenBSD bcrypt test vectors",
                           lambda p, h: bcrypt.checkpw(p.encode(), h.encode())))
    # Argon2 PHC strings.
    v.append(vector("argon2", argon2_phc(pw, b"saltsaltsaltsalt", argon2.Type.ID, 2, 19456, 1),
                    pw, "argon2-cffi argon2id, OWASP's m=19456,t=2,p=1"))
    v.append(vector("argon2", argon2_phc(pw, b"0123456789abcdef", argon2.Type.I, 3, 4096, 2),
                    pw, "argon2-cffi argon2i, p=2"))
    for p, h in [("password", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA"),
                 ("password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")]:
        v.append(published("argon2", h, p, "published: the Argon2 reference implementation's test.c",
                           lambda p, h: argon2.verify_secret(h.encode(), p.encode(),
                                                             argon2.Type.ID if h.startswith("$argon2id") else argon2.Type.I)))
    # Magento 2.
    v.append(vector("magento2", magento2_sha256(pw, "Yt0qZ3mWcN8pLxR2vB7kD4sJ9hF6gA1e"), pw,
                    "Magento 2 Encryptor, SHA-256 (version 1)"))
    v.append(vector("magento2", magento2_argon_agnostic(pw, "Kp2sW8nQ4rT6yU1iO3aD5fG7hJ9kL0zX"), pw,
                    "Magento 2 Encryptor, Argon2id13 (version 3_32_2_67108864)"))
    v.append(vector("magento2", magento2_argon_agnostic(pw, "short"), pw,
                    "Magento 2 Encryptor, Argon2id13 with a salt shorter than 16 bytes"))
    v.append(vector("magento2", magento2_upgraded(pw, "Mn4bV6cX8zL1kJ3hG5fD7sA9pO2iU4yT"), pw,
                    "Magento 2 Encryptor, SHA-256 upgraded to Argon2id13 (versions 1:2)"))
    # Django / Saleor.
    v.append(vector("django_pbkdf2_sha256",
                    django_pbkdf2_sha256.using(salt="seasaltEXAMPLE12", rounds=260000).hash(pw), pw,
                    "passlib django_pbkdf2_sha256, Django 3.2's 260000 rounds"))
    v.append(vector("django_pbkdf2_sha256",
                    django_pbkdf2_sha256.using(salt="q1w2e3r4t5y6", rounds=1000).hash("lètmein"),
                    "lètmein", "passlib django_pbkdf2_sha256, UTF-8 password"))
    # Drupal 7.
    v.append(vector("drupal7", drupal7(pw, "Ab3dEf6h", 15), pw,
                    "Drupal 7 _password_crypt, DRUPAL_HASH_COUNT 15"))
    v.append(vector("drupal7", drupal7("ünïcode pass", "z./9QwEr", 7), "ünïcode pass",
                    "Drupal 7 _password_crypt, DRUPAL_MIN_HASH_COUNT 7"))
    # customer-area's own export.
    v.append(vector("pbkdf2_sha256", own_pbkdf2(pw, b"sixteen byte slt", 1000), pw,
                    "hashlib PBKDF2-HMAC-SHA256, PHC string"))
    for x in v:
        assert x["password"] != x["wrong"]
    return v


def render() -> str:
    return json.dumps(vectors(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    text = render()
    if sys.argv[1:] == ["--check"]:
        if OUT.read_text(encoding="utf-8") != text:
            sys.exit(f"{OUT} differs from what the reference implementations make: run {sys.argv[0]}")
        print(f"{OUT.name}: the same as the reference implementations make")
    else:
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT}")
