//! Go's `os.FileMode` rendering from a raw Unix `st_mode`.
//!
//! Nomad's `fs/ls` and `fs/stat` report `FileMode` as Go's `FileMode.String()`, whose
//! type letters (`d`, `L`, `Dc`, `u`, `t`, ...) and ordering differ from `ls -l`. The
//! host gives us the raw `st_mode`, so we translate it to Go's mode bits the way
//! `os.Stat` does on Linux and then print it as Go does.

const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

// Go's `io/fs` mode bits, counted down from the top bit in the order of `TYPE_LETTERS`.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_DEVICE: u32 = 1 << 26;
const MODE_NAMED_PIPE: u32 = 1 << 25;
const MODE_SOCKET: u32 = 1 << 24;
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_CHAR_DEVICE: u32 = 1 << 21;
const MODE_STICKY: u32 = 1 << 20;

/// One letter per Go mode bit, from bit 31 downwards.
const TYPE_LETTERS: &[u8; 13] = b"dalTLDpSugct?";

/// Renders `st_mode` as Go's `FileMode.String()` does after `os.Stat`, e.g. `drwxr-xr-x`.
pub fn go_file_mode(st_mode: u32) -> String {
    let mode = go_mode_bits(st_mode);
    let mut out = String::with_capacity(12);
    for (i, &letter) in TYPE_LETTERS.iter().enumerate() {
        if mode & (1 << (31 - i)) != 0 {
            out.push(char::from(letter));
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    for (i, &letter) in b"rwxrwxrwx".iter().enumerate() {
        let set = mode & (1 << (8 - i)) != 0;
        out.push(if set { char::from(letter) } else { '-' });
    }
    out
}

/// Whether `st_mode` describes a directory.
pub fn is_dir(st_mode: u32) -> bool {
    st_mode & S_IFMT == S_IFDIR
}

/// Whether `st_mode` describes a regular file.
pub fn is_regular(st_mode: u32) -> bool {
    st_mode & S_IFMT == S_IFREG
}

/// Go's `fillFileStatFromSys` on Linux: permission bits plus type and special bits.
fn go_mode_bits(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    mode |= match st_mode & S_IFMT {
        S_IFBLK => MODE_DEVICE,
        S_IFCHR => MODE_DEVICE | MODE_CHAR_DEVICE,
        S_IFDIR => MODE_DIR,
        S_IFIFO => MODE_NAMED_PIPE,
        S_IFLNK => MODE_SYMLINK,
        S_IFSOCK => MODE_SOCKET,
        // Regular files, and type values Go does not recognise, add no type bit.
        _ => 0,
    };
    if st_mode & S_ISGID != 0 {
        mode |= MODE_SETGID;
    }
    if st_mode & S_ISUID != 0 {
        mode |= MODE_SETUID;
    }
    if st_mode & S_ISVTX != 0 {
        mode |= MODE_STICKY;
    }
    mode
}

#[cfg(test)]
mod tests;
