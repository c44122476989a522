//! The `fs` backend: objects as files under a local directory, written to a temporary name,
//! fsynced, then renamed into place, so a crash never leaves a partial object under its key.

use std::path::{Path, PathBuf};

use monoio::fs::{File, OpenOptions};

use super::stream::GetStream;
use super::{BodySource, ByteRange};
use crate::error::{BackendError, ProxyError};

/// Where uploads in progress are written, under a backend's root.
const TMP_DIR: &str = "tmp";

/// Removes the partial uploads a previous process left behind (call before serving).
pub fn clear_partial_uploads(root: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(root.join(TMP_DIR)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// fsyncs a directory, making the entries created in it durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A local-directory backend.
#[derive(Debug)]
pub struct FsBackend {
    name: String,
    root: PathBuf,
}

impl FsBackend {
    /// A backend storing under `root` (created on first write).
    pub fn new(name: &str, root: &Path) -> FsBackend {
        FsBackend {
            name: name.to_string(),
            root: root.to_path_buf(),
        }
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn io(&self, source: std::io::Error) -> BackendError {
        BackendError::Io {
            backend: self.name.clone(),
            source,
        }
    }

    /// The file of a physical key. Keys come from [`s3o_store::physical_key_for`] and contain only
    /// safe characters, but any `..` component is refused anyway.
    fn path(&self, key: &str) -> Result<PathBuf, BackendError> {
        if key.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(BackendError::Protocol {
                backend: self.name.clone(),
                detail: format!("unsafe key {key:?}"),
            });
        }
        Ok(self.root.join("objects").join(key))
    }

    /// Streams the body into a temporary file, fsyncs it and renames it to the key.
    pub async fn put<B: BodySource>(&self, key: &str, len: u64, body: &mut B) -> Result<(), ProxyError> {
        let path = self.path(key)?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        // Directories made now must be made durable too, in their parents.
        let mut created = Vec::new();
        let mut d = dir.as_path();
        while !d.exists() {
            created.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        std::fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        // Uploads in progress live in `tmp/` (emptied at start-up by `clear_partial_uploads`), so an
        // upload cut off by a crash or exit never leaves a stray file among the objects.
        let tmp_dir = self.root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp_dir).map_err(|e| self.io(e))?;
        let tmp = tmp_dir.join(format!("{}.part", key.replace('/', "_")));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .await
            .map_err(|e| self.io(e))?;
        let result = self.write_body(&file, len, body).await;
        let result = match result {
            Ok(()) => file.sync_all().await.map_err(|e| self.io(e).into()),
            Err(e) => Err(e),
        };
        let _ = file.close().await;
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &path).map_err(|e| self.io(e))?;
        // The rename, and every directory created for it, are durable before we report success.
        sync_dir(&dir).map_err(|e| self.io(e))?;
        for c in &created {
            if let Some(parent) = c.parent() {
                sync_dir(parent).map_err(|e| self.io(e))?;
            }
        }
        Ok(())
    }

    async fn write_body<B: BodySource>(&self, file: &File, len: u64, body: &mut B) -> Result<(), ProxyError> {
        let mut pos = 0u64;
        while let Some(piece) = body.next_piece().await? {
            let n = piece.len() as u64;
            if pos + n > len {
                return Err(ProxyError::Internal("body longer than announced".into()));
            }
            let (res, _) = file.write_all_at(piece, pos).await;
            res.map_err(|e| self.io(e))?;
            pos += n;
        }
        if pos != len {
            return Err(ProxyError::Sig(s3o_sigv4::SigError::IncompleteBody));
        }
        Ok(())
    }

    /// Opens the file for a ranged or whole read.
    pub async fn get(&self, key: &str, range: Option<ByteRange>, size: u64) -> Result<GetStream, ProxyError> {
        let path = self.path(key)?;
        let file = match File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackendError::NotFound {
                    backend: self.name.clone(),
                }
                .into())
            }
            Err(e) => return Err(self.io(e).into()),
        };
        let (start, end) = match range {
            Some(r) => (r.start, r.end + 1),
            None => (0, size),
        };
        Ok(GetStream::file(self.name.clone(), file, start, end))
    }

    /// Removes the file; a missing one is fine.
    pub async fn delete(&self, key: &str) -> Result<(), BackendError> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Whether the key's file exists.
    pub fn exists(&self, key: &str) -> bool {
        self.path(key).map(|p| p.exists()).unwrap_or(false)
    }
}
