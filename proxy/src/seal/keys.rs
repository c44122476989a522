//! Master keys and data keys (envelope encryption): the current master key wraps each new
//! object's fresh data key; previous master keys are kept to unwrap older ones. A master key
//! comes from the configuration (base64), a key file (base64, or 32 raw bytes), or the standard
//! output of a command (a KMS hook), read once at startup.
//!
//! A wrapped data key is base64 of a random 12-byte nonce, the key encrypted with AES-256-GCM
//! under the master key, and its tag; the associated data is `"s3o-dek-1"` and the master key's
//! id, so a key wrapped under one id never unwraps as another's.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::config::{EncryptionConfig, MasterKeyConfig};
use super::format::DataKey;
use super::SealError;

/// Label of a wrapped data key's associated data.
const WRAP_LABEL: &[u8] = b"s3o-dek-1";
/// Longest a key command may take: a KMS hook that hangs must not hang startup.
const KEY_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The master keys: the current one (new objects) and the previous ones (unwrap only).
pub struct Keyring {
    current: String,
    keys: HashMap<String, LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("ids", &ids)
            .finish()
    }
}

/// A fresh data key: the key itself and how it is recorded.
pub struct FreshKey {
    /// The key.
    pub key: DataKey,
    /// Id of the master key that wrapped it.
    pub key_id: String,
    /// It, wrapped (base64).
    pub wrapped: String,
}

impl Keyring {
    /// The keys of `[encryption]`, read from where it says; `None` when no key is configured.
    /// Errors name the key and what is wrong with it.
    pub fn load(cfg: &EncryptionConfig, base: &Path) -> Result<Option<Keyring>, String> {
        let Some(current) = cfg.master() else { return Ok(None) };
        let mut keys = HashMap::new();
        let (id, key) = read_key(&current, base).map_err(|e| format!("[encryption] master key: {e}"))?;
        let current_id = id.clone();
        keys.insert(id, key);
        for (i, k) in cfg.previous_keys.iter().enumerate() {
            let (id, key) =
                read_key(k, base).map_err(|e| format!("[[encryption.previous_keys]] number {}: {e}", i + 1))?;
            if keys.insert(id.clone(), key).is_some() {
                return Err(format!("[encryption]: key id {id:?} is given twice"));
            }
        }
        Ok(Some(Keyring {
            current: current_id,
            keys,
            rng: SystemRandom::new(),
        }))
    }

    /// A keyring of these (id, 32-byte key) pairs, the first current (tests and tools).
    pub fn of(pairs: &[(&str, [u8; 32])]) -> Keyring {
        let keys = pairs.iter().map(|(id, k)| (id.to_string(), aead_key(k))).collect();
        Keyring {
            current: pairs.first().map(|p| p.0.to_string()).unwrap_or_default(),
            keys,
            rng: SystemRandom::new(),
        }
    }

    /// The id of the current master key.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Whether a master key of this id is known.
    pub fn knows(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// `n` random bytes.
    pub fn random<const N: usize>(&self) -> Result<[u8; N], SealError> {
        let mut b = [0u8; N];
        self.rng.fill(&mut b).map_err(|_| SealError::Random)?;
        Ok(b)
    }

    /// A fresh data key, wrapped by the current master key.
    pub fn fresh(&self) -> Result<FreshKey, SealError> {
        let bytes: [u8; 32] = self.random()?;
        let wrapped = self.wrap(&bytes)?;
        Ok(FreshKey {
            key: DataKey::new(&bytes),
            key_id: self.current.clone(),
            wrapped,
        })
    }

    fn wrap(&self, dek: &[u8; 32]) -> Result<String, SealError> {
        let master = self
            .keys
            .get(&self.current)
            .ok_or_else(|| SealError::UnknownKey(self.current.clone()))?;
        let nonce: [u8; NONCE_LEN] = self.random()?;
        let mut buf = dek.to_vec();
        let aad = wrap_aad(&self.current);
        master
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad[..]), &mut buf)
            .map_err(|_| SealError::Crypto)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    fn unwrap_bytes(&self, key_id: &str, wrapped: &str) -> Result<[u8; 32], SealError> {
        let master = self
            .keys
            .get(key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_string()))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(wrapped)
            .map_err(|_| SealError::BadWrappedKey)?;
        if raw.len() != NONCE_LEN + 32 + 16 {
            return Err(SealError::BadWrappedKey);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let mut nonce_b = [0u8; NONCE_LEN];
        nonce_b.copy_from_slice(nonce);
        let mut buf = rest.to_vec();
        let aad = wrap_aad(key_id);
        let plain = master
            .open_in_place(Nonce::assume_unique_for_key(nonce_b), Aad::from(&aad[..]), &mut buf)
            .map_err(|_| SealError::BadWrappedKey)?;
        let mut out = [0u8; 32];
        out.copy_from_slice(plain);
        Ok(out)
    }

    /// The data key `wrapped` under master key `key_id`.
    pub fn unwrap(&self, key_id: &str, wrapped: &str) -> Result<DataKey, SealError> {
        self.unwrap_bytes(key_id, wrapped).map(|b| DataKey::new(&b))
    }

    /// `wrapped` (under `key_id`) wrapped anew by the current master key: a rotation.
    pub fn rewrap(&self, key_id: &str, wrapped: &str) -> Result<String, SealError> {
        let b = self.unwrap_bytes(key_id, wrapped)?;
        self.wrap(&b)
    }
}

fn wrap_aad(key_id: &str) -> Vec<u8> {
    let mut aad = WRAP_LABEL.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    match UnboundKey::new(&AES_256_GCM, bytes) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable!("AES-256-GCM takes a 32-byte key"),
    }
}

/// The id and key one entry of the configuration gives.
fn read_key(cfg: &MasterKeyConfig, base: &Path) -> Result<(String, LessSafeKey), String> {
    let sources = [cfg.key.is_some(), cfg.key_file.is_some(), !cfg.key_command.is_empty()];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err("give exactly one of key, key_file or key_command".into());
    }
    let bytes = if let Some(k) = &cfg.key {
        decode_key(k.trim().as_bytes()).ok_or("key is not 32 bytes of base64")?
    } else if let Some(f) = &cfg.key_file {
        let path = base.join(f);
        let raw = std::fs::read(&path).map_err(|e| format!("cannot read key_file {}: {e}", path.display()))?;
        decode_key(&raw)
            .ok_or_else(|| format!("key_file {} holds neither 32 bytes nor their base64", path.display()))?
    } else {
        let out = run_key_command(&cfg.key_command)?;
        decode_key(&out).ok_or("key_command did not print 32 bytes of base64")?
    };
    let id = match &cfg.id {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        Some(_) => return Err("id is empty".into()),
        None => fingerprint(&bytes),
    };
    Ok((id, aead_key(&bytes)))
}

/// A key's default id: `k-` and the first 8 bytes of its BLAKE3 hash in hex, the same wherever
/// the key is configured.
pub fn fingerprint(key: &[u8; 32]) -> String {
    let h = blake3::hash(key);
    format!("k-{}", s3o_sigv4::encode::hex(&h.as_bytes()[..8]))
}

/// 32 raw bytes, or base64 of 32 bytes (surrounding whitespace ignored).
fn decode_key(raw: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(raw).ok().map(str::trim);
    let decoded = text.and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
    let bytes = match decoded {
        Some(d) if d.len() == 32 => d,
        _ if raw.len() == 32 => raw.to_vec(),
        _ => return None,
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Some(out)
}

/// Runs a key command (no shell) and returns its standard output.
fn run_key_command(argv: &[String]) -> Result<Vec<u8>, String> {
    let (program, args) = argv.split_first().ok_or("key_command is empty")?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run key_command {program:?}: {e}"))?;
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => return Err(format!("key_command {program:?} failed: {status}")),
            Ok(None) if started.elapsed() > KEY_COMMAND_TIMEOUT => {
                let _ = child.kill();
                return Err(format!(
                    "key_command {program:?} did not finish within {} s",
                    KEY_COMMAND_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => return Err(format!("key_command {program:?}: {e}")),
        }
    }
    let mut out = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        std::io::Read::read_to_end(&mut s, &mut out).map_err(|e| format!("key_command {program:?}: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_unwraps_under_its_id_only_and_rewraps_under_the_current_one() {
        let old = Keyring::of(&[("old", [1; 32])]);
        let fresh = old.fresh().unwrap();
        let both = Keyring::of(&[("new", [2; 32]), ("old", [1; 32])]);
        assert!(both.unwrap("old", &fresh.wrapped).is_ok());
        assert!(matches!(
            both.unwrap("new", &fresh.wrapped),
            Err(SealError::BadWrappedKey)
        ));
        assert!(matches!(
            Keyring::of(&[("new", [2; 32])]).unwrap("old", &fresh.wrapped),
            Err(SealError::UnknownKey(_))
        ));
        let rewrapped = both.rewrap("old", &fresh.wrapped).unwrap();
        let only_new = Keyring::of(&[("new", [2; 32])]);
        assert!(only_new.unwrap("new", &rewrapped).is_ok());
        assert!(matches!(only_new.unwrap("new", "AAAA"), Err(SealError::BadWrappedKey)));
    }

    #[test]
    fn keys_decode_from_base64_or_raw_bytes_and_nothing_else() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(decode_key(format!(" {b64}\n").as_bytes()), Some([7; 32]));
        assert_eq!(decode_key(&[9u8; 32]), Some([9; 32]));
        assert_eq!(decode_key(b"c2hvcnQ="), None);
        assert!(fingerprint(&[7; 32]).starts_with("k-"));
        assert_eq!(fingerprint(&[7; 32]).len(), 18);
    }

    #[test]
    fn a_key_command_is_run_without_a_shell_and_its_failures_are_named() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
        let cfg = MasterKeyConfig {
            id: Some("kms".into()),
            key: None,
            key_file: None,
            key_command: vec!["echo".into(), b64],
        };
        let (id, _) = read_key(&cfg, Path::new(".")).unwrap();
        assert_eq!(id, "kms");
        let bad = MasterKeyConfig {
            key_command: vec!["false".into()],
            ..cfg.clone()
        };
        assert!(read_key(&bad, Path::new(".")).unwrap_err().contains("failed"));
        let two = MasterKeyConfig {
            key: Some("x".into()),
            ..cfg
        };
        assert!(read_key(&two, Path::new(".")).unwrap_err().contains("exactly one"));
    }
}
