//! `[encryption]` and `[integrity]`: the settings of encryption at rest (whether new objects are
//! sealed, the chunk size, the master keys) and of content hashing and scrubbing.

use std::path::PathBuf;

use serde::Deserialize;

/// Smallest chunk size accepted: smaller chunks spend more on tags than they save on reads.
pub const MIN_CHUNK: u32 = 4 * 1024;
/// Largest chunk size accepted: a chunk is held whole in memory while it is sealed or opened.
pub const MAX_CHUNK: u32 = 4 * 1024 * 1024;

/// `[encryption]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// Whether new objects are sealed (a bucket's `encrypt` overrides it).
    pub enabled: bool,
    /// Plaintext bytes per sealed chunk.
    pub chunk_size: u32,
    /// The current master key's id (default: its fingerprint, `k-` and 16 hex digits).
    pub key_id: Option<String>,
    /// The current master key, base64 of 32 bytes.
    pub key: Option<String>,
    /// A file holding the current master key (base64, or 32 raw bytes).
    pub key_file: Option<PathBuf>,
    /// A command (program and arguments, no shell) printing the current master key in base64.
    pub key_command: Vec<String>,
    /// Earlier master keys, kept to unwrap the data keys they wrapped.
    pub previous_keys: Vec<MasterKeyConfig>,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        EncryptionConfig {
            enabled: false,
            chunk_size: super::format::DEFAULT_CHUNK,
            key_id: None,
            key: None,
            key_file: None,
            key_command: Vec::new(),
            previous_keys: Vec::new(),
        }
    }
}

impl EncryptionConfig {
    /// The current master key's entry, when one is configured.
    pub fn master(&self) -> Option<MasterKeyConfig> {
        (self.key.is_some() || self.key_file.is_some() || !self.key_command.is_empty()).then(|| MasterKeyConfig {
            id: self.key_id.clone(),
            key: self.key.clone(),
            key_file: self.key_file.clone(),
            key_command: self.key_command.clone(),
        })
    }

    /// What is wrong with these settings, if anything (`any_bucket` says whether a bucket asks
    /// for encryption itself).
    pub fn problem(&self, any_bucket: bool) -> Option<String> {
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&self.chunk_size) {
            return Some(format!(
                "[encryption] chunk_size {} is outside {MIN_CHUNK}..={MAX_CHUNK}",
                self.chunk_size
            ));
        }
        if (self.enabled || any_bucket) && self.master().is_none() {
            return Some(
                "[encryption]: encryption is enabled but no master key is configured (key, key_file or key_command)"
                    .into(),
            );
        }
        None
    }
}

/// One master key of `[[encryption.previous_keys]]` (or the current one).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKeyConfig {
    /// Its id (default: its fingerprint).
    #[serde(default)]
    pub id: Option<String>,
    /// The key, base64 of 32 bytes.
    #[serde(default)]
    pub key: Option<String>,
    /// A file holding it.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// A command printing it.
    #[serde(default)]
    pub key_command: Vec<String>,
}
