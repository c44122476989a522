//! The `fs` backend: objects as files under a local directory, written to a temporary name,
//! fsynced, then renamed into place, so a crash never leaves a partial object under its key.
//! Multipart uploads keep each part as a file under `uploads/<upload id>/` (written the same
//! way); completing one streams the parts, in order, into the object's file.

use std::path::{Path, PathBuf};

use monoio::fs::{File, OpenOptions};

use super::stream::GetStream;
use super::{BodySource, ByteRange, PhysicalMeta};
use crate::error::{BackendError, ProxyError};

/// Extended attribute holding an object file's logical bucket.
pub const XATTR_BUCKET: &str = "user.s3o.bucket";
/// Extended attribute holding an object file's logical key.
pub const XATTR_KEY: &str = "user.s3o.key";
/// Extended attribute holding an object file's version.
pub const XATTR_VERSION: &str = "user.s3o.version";
/// Extended attribute marking sealed (encrypted) bytes.
pub const XATTR_SEALED: &str = "user.s3o.sealed";
/// Extended attribute holding an object file's content type, when it has one.
pub const XATTR_CONTENT_TYPE: &str = "user.s3o.content-type";

/// Where uploads in progress are written, under a backend's root.
const TMP_DIR: &str = "tmp";
/// Makes every temporary file name unique in the process: two writes of one key at once (two
/// CompleteMultipartUpload of one upload) must never truncate or remove each other's file.
static TMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Where the parts of multipart uploads live, one directory per upload, under a backend's root.
const UPLOADS_DIR: &str = "uploads";

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

    /// Checks the backend's directory exists and is a directory.
    pub fn probe(&self) -> Result<(), BackendError> {
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(self.io(std::io::Error::other(format!(
                "{} is not a directory",
                self.root.display()
            )))),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Every object file under the backend's object directory, in key order, in one page (the
    /// walk is local; files being written live elsewhere). Symbolic links are not followed.
    pub fn list_page(&self, after: Option<&str>) -> Result<super::ListedPage, BackendError> {
        let base = self.root.join("objects");
        let mut objects = Vec::new();
        let mut dirs = vec![base.clone()];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.io(e))?;
                let kind = entry.file_type().map_err(|e| self.io(e))?;
                let path = entry.path();
                if kind.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if !kind.is_file() {
                    continue;
                }
                let Some(key) = path.strip_prefix(&base).ok().and_then(|p| p.to_str()) else {
                    continue;
                };
                let meta = entry.metadata().map_err(|e| self.io(e))?;
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                objects.push(super::Listed {
                    key: key.to_owned(),
                    size: meta.len(),
                    etag: None,
                    last_modified_ms: modified,
                });
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(after) = after {
            objects.retain(|o| o.key.as_str() > after);
        }
        Ok(super::ListedPage { objects, next: None })
    }

    /// Streams the body into a temporary file, fsyncs it and renames it to the key.
    pub async fn put<B: BodySource>(
        &self,
        key: &str,
        len: u64,
        meta: &PhysicalMeta,
        body: &mut B,
    ) -> Result<(), ProxyError> {
        let path = self.path(key)?;
        self.store_file(&path, &key.replace('/', "_"), Some(meta), len, body)
            .await
    }

    /// The directory of a multipart upload's parts; ids are ours, made of hex digits.
    fn upload_dir(&self, upload_id: &str) -> Result<PathBuf, BackendError> {
        if upload_id.is_empty() || !upload_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(BackendError::Protocol {
                backend: self.name.clone(),
                detail: format!("unsafe upload id {upload_id:?}"),
            });
        }
        Ok(self.root.join(UPLOADS_DIR).join(upload_id))
    }

    /// Stores part `part_number` of an upload as its own file, named uniquely by `unique` so a
    /// part uploaded again never touches the file a recorded part points at; returns the name.
    pub async fn put_part<B: BodySource>(
        &self,
        upload_id: &str,
        part_number: u32,
        unique: u64,
        len: u64,
        body: &mut B,
    ) -> Result<String, ProxyError> {
        let name = format!("{part_number:05}-{unique:016x}");
        let path = self.upload_dir(upload_id)?.join(&name);
        self.store_file(&path, &format!("{upload_id}-{name}"), None, len, body)
            .await?;
        Ok(name)
    }

    /// Assembles an object of `len` bytes from the named part files of an upload, in order.
    pub async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(String, u64)],
        len: u64,
        meta: &PhysicalMeta,
    ) -> Result<(), ProxyError> {
        let dir = self.upload_dir(upload_id)?;
        let mut source = PartFiles {
            backend: self.name.clone(),
            files: parts.iter().map(|(n, size)| (dir.join(n), *size)).collect(),
            next: 0,
            open: None,
        };
        self.put(key, len, meta, &mut source).await
    }

    /// Removes an upload's parts; a missing directory is fine.
    pub async fn abort_upload(&self, upload_id: &str) -> Result<(), BackendError> {
        match std::fs::remove_dir_all(self.upload_dir(upload_id)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.io(e)),
            _ => Ok(()),
        }
    }

    /// Streams `len` bytes of `body` into a temporary file named after `tmp_name`, labelled with
    /// `meta`, fsyncs it, renames it to `path`, and makes the rename (and every directory created
    /// for it) durable.
    async fn store_file<B: BodySource>(
        &self,
        path: &Path,
        tmp_name: &str,
        meta: Option<&PhysicalMeta>,
        len: u64,
        body: &mut B,
    ) -> Result<(), ProxyError> {
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
        let seq = TMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = tmp_dir.join(format!("{tmp_name}.{seq}.part"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .await
            .map_err(|e| self.io(e))?;
        let result = match meta.map_or(Ok(()), |m| self.label(&file, m)) {
            Ok(()) => self.write_body(&file, len, body).await,
            Err(e) => Err(e),
        };
        let result = match result {
            Ok(()) => file.sync_all().await.map_err(|e| self.io(e).into()),
            Err(e) => Err(e),
        };
        let _ = file.close().await;
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, path).map_err(|e| self.io(e))?;
        // The rename, and every directory created for it, are durable before we report success.
        sync_dir(&dir).map_err(|e| self.io(e))?;
        for c in &created {
            if let Some(parent) = c.parent() {
                sync_dir(parent).map_err(|e| self.io(e))?;
            }
        }
        Ok(())
    }

    /// Labels the file with its logical bucket, key, version and content type (extended
    /// attributes). A file that cannot be labelled fails the upload: a backend whose filesystem
    /// has no user xattrs is refused at startup ([`super::xattr::probe_dir`]).
    fn label(&self, file: &File, meta: &PhysicalMeta) -> Result<(), ProxyError> {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let version = meta.version.to_string();
        let mut labels = vec![
            (XATTR_BUCKET, meta.bucket.as_bytes()),
            (XATTR_KEY, meta.key.as_bytes()),
            (XATTR_VERSION, version.as_bytes()),
        ];
        if let Some(ct) = &meta.content_type {
            labels.push((XATTR_CONTENT_TYPE, ct.as_bytes()));
        }
        if meta.sealed {
            labels.push((XATTR_SEALED, b"1"));
        }
        for (name, value) in labels {
            super::xattr::set(fd, name, value).map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// The labels of the object file of `key` (see [`FsBackend::label`]), if it has them.
    pub fn labels(&self, key: &str) -> Result<Option<super::Labels>, BackendError> {
        let path = self.path(key)?;
        let read = |name: &str| match super::xattr::get(&path, name) {
            Ok(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(None),
            Err(e) => Err(self.io(e)),
        };
        let (Some(bucket), Some(lkey), Some(version)) = (read(XATTR_BUCKET)?, read(XATTR_KEY)?, read(XATTR_VERSION)?)
        else {
            return Ok(None);
        };
        let Ok(version) = version.parse() else { return Ok(None) };
        Ok(Some(super::Labels {
            bucket,
            key: lkey,
            version,
            content_type: read(XATTR_CONTENT_TYPE)?,
            sealed: read(XATTR_SEALED)?.is_some(),
        }))
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
        // The file must be exactly what was committed: a truncated or replaced file is a backend
        // failure (another copy may be tried), never a short body after a 200.
        let on_disk = std::fs::metadata(&path).map_err(|e| self.io(e))?.len();
        if on_disk != size {
            return Err(BackendError::Protocol {
                backend: self.name.clone(),
                detail: format!("object {key} is {on_disk} bytes on the backend, {size} expected"),
            }
            .into());
        }
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
}

/// The part files of an upload read one after the other, as one body.
struct PartFiles {
    backend: String,
    files: Vec<(PathBuf, u64)>,
    next: usize,
    open: Option<(File, u64, u64)>,
}

impl BodySource for PartFiles {
    async fn next_piece(&mut self) -> Result<Option<bytes::Bytes>, ProxyError> {
        let io = |backend: &str, source| -> ProxyError {
            BackendError::Io {
                backend: backend.to_string(),
                source,
            }
            .into()
        };
        loop {
            if let Some((file, pos, size)) = &mut self.open {
                if *pos < *size {
                    let want = usize::try_from(*size - *pos).unwrap_or(usize::MAX).min(super::BODY_BUF);
                    let buf = monoio::buf::IoBufMut::slice_mut(Vec::with_capacity(want), 0..want);
                    let (res, buf) = file.read_exact_at(buf, *pos).await;
                    res.map_err(|e| io(&self.backend, e))?;
                    let buf = buf.into_inner();
                    *pos += want as u64;
                    return Ok(Some(bytes::Bytes::from(buf)));
                }
                self.open = None;
            }
            let Some((path, size)) = self.files.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            let file = File::open(path).await.map_err(|e| io(&self.backend, e))?;
            self.open = Some((file, 0, *size));
        }
    }
}
