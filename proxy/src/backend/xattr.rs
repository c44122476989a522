//! Extended attributes on `fs` backend files: each object file carries its logical bucket, key
//! and version (`user.s3o.bucket`, `user.s3o.key`, `user.s3o.version`), so a lost metadata index
//! can be rebuilt from the files alone (design rule 6), as `s3` backends carry them as
//! `x-amz-meta-s3o-*`.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::RawFd;

/// Sets attribute `name` to `value` on the open file `fd`.
pub fn set(fd: RawFd, name: &str, value: &[u8]) -> std::io::Result<()> {
    let name = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: `name` is a valid NUL-terminated string and `value` a valid slice, both alive for
    // the call; `fd` is an open descriptor owned by the caller; fsetxattr only reads the buffers.
    let rc = unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Checks that files in directory `dir` can carry `user.` attributes: creates a file there,
/// labels it and removes it. Fails with the OS's reason (e.g. "Operation not supported" on a
/// filesystem without user xattrs).
pub fn probe_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let path = dir.join(".s3o-xattr-check");
    let file = std::fs::File::create(&path)?;
    let labelled = set(file.as_raw_fd(), "user.s3o.check", b"1");
    drop(file);
    let removed = std::fs::remove_file(&path);
    labelled?;
    removed
}

/// Reads attribute `name` of the file at `path` (at most 4 KiB; tools and tests).
pub fn get(path: &std::path::Path, name: &str) -> std::io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let name = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `p` and `name` are valid NUL-terminated strings and `buf` a writable buffer of the
    // length passed, all alive for the call; getxattr writes at most that many bytes.
    let n = unsafe { libc::getxattr(p.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}
