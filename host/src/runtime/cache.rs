//! Compiled cores on disk, so a restart (or a swap back to a core seen before) skips
//! Cranelift and serves its first request in milliseconds.
//!
//! An entry is named by the SHA-256 of the component's bytes and by the engine's
//! compatibility hash (wasmtime version, compiler settings, CPU features), so a different
//! build never opens another build's entries. Loading precompiled code means trusting it
//! completely, so each entry starts with an HMAC-SHA256 tag made with a key that only this
//! data dir holds: an entry whose tag does not verify was not written by this agent (or was
//! damaged since), and is deleted, never loaded.

use std::fs::{self, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::util::hex;

/// The secret the entries' tags are made with, created once per data dir.
const KEY_FILE: &str = "key";
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 32;
const EXTENSION: &str = "cwasm";
/// Entries kept; the least recently used go first. A handful covers swapping back and
/// forth between a few versions without letting the directory grow with every swap.
const MAX_ENTRIES: usize = 8;

/// The on-disk cache of compiled cores under `<data_dir>/core-cache/`.
pub struct CoreCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    engine_hash: String,
}

impl CoreCache {
    /// Open (or create) the cache directory, readable by this user only.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let mut hasher = Sha256Hasher::default();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            engine_hash: hex(&hasher.0.finalize()[..8]),
        })
    }

    /// The compiled form of the component whose bytes hash to `sha256`, if this agent
    /// stored it. Anything wrong with an entry makes it a miss (and removes it).
    pub fn get(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let name = self.entry_name(sha256);
        let path = self.dir.join(&name);
        let data = match read_regular_file(&path) {
            Ok(data) => data,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!("core cache: cannot read {}: {err}", path.display());
                return None;
            }
        };
        let verified =
            data.len() > TAG_LEN && data[..TAG_LEN] == self.tag(&name, &data[TAG_LEN..])[..];
        if !verified {
            tracing::warn!(
                "core cache: {} was not written by this agent or is damaged (its tag does not verify); removing it",
                path.display()
            );
            let _ = fs::remove_file(&path);
            return None;
        }
        // SAFETY: `Component::deserialize` trusts its input completely; it is sound when
        // given exactly what `Component::serialize` produced. These bytes are that output:
        // `put` wrote them with an HMAC-SHA256 tag over the entry's name and the serialized
        // bytes, made with a key that never leaves this data dir (mode 0600 in a 0700
        // directory), and the tag was verified just above over the very buffer passed here
        // (read once into memory, so nothing can change between check and use). Bytes from
        // another wasmtime version or engine configuration are refused by `deserialize`
        // itself with an error, which wasmtime guarantees for its own output.
        match unsafe { Component::deserialize(engine, &data[TAG_LEN..]) } {
            Ok(component) => {
                // Recently used entries survive eviction.
                if let Ok(file) = OpenOptions::new().write(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Some(component)
            }
            Err(err) => {
                tracing::warn!(
                    "core cache: {} cannot be loaded by this build ({err}); removing it",
                    path.display()
                );
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Store the compiled form of the component whose bytes hash to `sha256`. Written to a
    /// temporary file and renamed, so a crash never leaves a partial entry behind.
    pub fn put(&self, sha256: &str, component: &Component) -> Result<()> {
        let name = self.entry_name(sha256);
        let code = component
            .serialize()
            .map_err(|err| anyhow::anyhow!("failed to serialize the compiled core: {err:#}"))?;
        let tag = self.tag(&name, &code);
        // NamedTempFile creates the file with mode 0600.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&tag)?;
        tmp.write_all(&code)?;
        tmp.as_file().sync_all()?;
        let path = self.dir.join(&name);
        tmp.persist(&path)
            .with_context(|| format!("failed to write {}", path.display()))?;
        self.evict();
        Ok(())
    }

    fn entry_name(&self, sha256: &str) -> String {
        format!("{sha256}-{}.{EXTENSION}", self.engine_hash)
    }

    /// The tag binds the bytes to their name, so an entry cannot stand in for another core.
    fn tag(&self, name: &str, code: &[u8]) -> [u8; TAG_LEN] {
        hmac_sha256(&self.key, &[name.as_bytes(), &[0], code])
    }

    /// Remove the least recently used entries beyond `MAX_ENTRIES`.
    fn evict(&self) {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(SystemTime, PathBuf)> = dir
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                if path.extension()? != EXTENSION {
                    return None;
                }
                Some((fs::metadata(&path).ok()?.modified().ok()?, path))
            })
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        for (_, path) in entries.into_iter().skip(MAX_ENTRIES) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Read a file that must be a regular file reached without following a symlink.
fn read_regular_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(data)
}

/// The data dir's cache key: read it, or make a new random one (which invalidates every
/// entry, harmlessly: they are compiled again).
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN]> {
    match read_regular_file(path) {
        Ok(data) => {
            if let Ok(key) = <[u8; KEY_LEN]>::try_from(data.as_slice()) {
                return Ok(key);
            }
            tracing::warn!(
                "core cache: {} is damaged; making a new key",
                path.display()
            );
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => bail!("failed to read {}: {err}", path.display()),
    }
    let mut key = [0; KEY_LEN];
    getrandom::fill(&mut key)
        .map_err(|err| anyhow::anyhow!("failed to make a random cache key: {err}"))?;
    let dir = path.parent().context("key path has no parent")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&key)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(key)
}

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Feeds `Hash` input into SHA-256. std's hashers may change between Rust releases; the
/// entry names must stay the same across restarts of the same build.
#[derive(Default)]
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("a digest has 32 bytes"))
    }
}

#[cfg(test)]
mod tests;
