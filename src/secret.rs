//! Secret values: refresh tokens, client secrets, passwords, keys, codes.
//!
//! Every secret lives in a [`SecretString`] or [`SecretKey`]: zeroized on drop,
//! `Debug` prints `[redacted]`, and reading the value needs an explicit
//! `expose()`, so a secret never reaches a log line by accident. Buffers
//! that carry secrets on their way in or out (a request read from the
//! socket, a serialized reply) are zeroizing too, and grow through
//! [`extend_zeroizing`] or are sized once ([`json_zeroizing`]) so no plain
//! copy is left behind. What no type of ours reaches (the HTTP client's
//! buffers that carried a token; serde_json's scratch buffer, through which
//! a password with a `"` or `\` in it is decoded) the agent's global
//! allocator, [`WipeOnFree`], wipes when it frees it; the other tools are
//! short-lived and keep the system allocator.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

/// The most a password or secret line may be: a longer first line is not
/// a password (`--pw-file /dev/zero`, `--pw-cmd yes` would fill memory).
pub const MAX_SECRET_LINE: usize = 64 * 1024;

/// Why [`read_first_line`] gave no line.
#[derive(Debug)]
pub enum LineError {
    /// Reading failed (its kind kept: an interrupted read is not an error
    /// of the input's).
    Read(std::io::Error),
    /// Longer than [`MAX_SECRET_LINE`].
    TooLong,
    /// Not UTF-8 text.
    NotUtf8,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "cannot read it: {e}"),
            Self::TooLong => write!(
                f,
                "its first line is longer than {} KiB; give the password (or secret) on a line \
                 of its own",
                MAX_SECRET_LINE / 1024
            ),
            Self::NotUtf8 => write!(f, "its first line is not UTF-8 text"),
        }
    }
}

/// The first line of `reader`, without its line end, read no further than
/// [`MAX_SECRET_LINE`]; what was read is wiped. `None` when the input ended
/// before its first byte (Ctrl-D at a prompt).
pub fn read_first_line(reader: impl std::io::Read) -> Result<Option<SecretString>, LineError> {
    use std::io::BufRead as _;
    let mut buf = Zeroizing::new(Vec::new());
    let n = std::io::BufReader::new(reader.take(MAX_SECRET_LINE as u64 + 1))
        .read_until(b'\n', &mut buf)
        .map_err(LineError::Read)?;
    if n == 0 {
        return Ok(None);
    }
    let end = buf
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .unwrap_or(buf.len());
    if end > MAX_SECRET_LINE {
        return Err(LineError::TooLong);
    }
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| LineError::NotUtf8)?;
    Ok(Some(SecretString::new(line.to_owned())))
}

/// [`read_first_line`] of a source that may be empty (an empty secret);
/// `source` names it in the error.
pub fn first_line(reader: impl std::io::Read, source: &str) -> Result<SecretString, String> {
    match read_first_line(reader) {
        Ok(line) => Ok(line.unwrap_or_default()),
        Err(e) => Err(format!("{source}: {e}")),
    }
}

/// A secret string (token, password, client secret), zeroized on drop.
/// Compared in constant time (a refresh token a client sends over the
/// socket is compared with the one held): only the lengths may differ in
/// time.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

impl SecretString {
    /// Wraps `value`; the original allocation is moved, not copied, and
    /// locked in memory where the system allows (the string never grows
    /// afterwards, so the locked buffer is the only copy we make).
    pub fn new(value: String) -> Self {
        lock_memory(value.as_bytes());
        Self(Zeroizing::new(value))
    }

    /// The plaintext. Callers must not log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for the empty string (oidc-agent writes `""` for "not set").
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

// Serialization is needed because the account JSON and the agent protocol
// carry these values; it is explicit at every use site through the field type.
impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// A 256-bit symmetric key, zeroized on drop.
#[derive(Clone)]
pub struct SecretKey(Box<[u8; 32]>);

impl SecretKey {
    /// A fresh random key from the OS generator.
    pub fn random() -> Self {
        use rand::RngCore as _;
        let mut key = Self::zero();
        rand::rngs::OsRng.fill_bytes(key.0.as_mut());
        lock_memory(key.0.as_ref());
        key
    }

    /// An all-zero key, to be filled in place (keeps the bytes off the stack).
    pub fn zero() -> Self {
        Self(Box::new([0u8; 32]))
    }

    /// Builds a key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut key = Self::zero();
        if bytes.len() != 32 {
            return None;
        }
        key.0.copy_from_slice(bytes);
        lock_memory(key.0.as_ref());
        Some(key)
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key bytes, mutable (for key derivation in place).
    pub fn expose_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(other.0.as_ref()).into()
    }
}

/// Appends `bytes` to a zeroizing buffer; when it must grow, the contents
/// move to a new allocation and the old one is zeroized (a plain `Vec` would
/// free it with the secret still in it).
pub fn extend_zeroizing(buf: &mut Zeroizing<Vec<u8>>, bytes: &[u8]) {
    let need = buf.len() + bytes.len();
    if need > buf.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(2 * buf.capacity())));
        bigger.extend_from_slice(buf);
        std::mem::swap(buf, &mut bigger);
    }
    buf.extend_from_slice(bytes);
}

/// Serializes `value` as JSON into a zeroizing buffer allocated once at its
/// final size (plus `spare` bytes): `serde_json::to_vec` grows a plain `Vec`,
/// and every reallocation frees a copy of what was written so far (a refresh
/// token, a whole sealed account) without wiping it.
pub fn json_zeroizing<T: Serialize + ?Sized>(value: &T, spare: usize) -> Zeroizing<Vec<u8>> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serializing our own types cannot fail: no maps with non-string keys.
    let _ = serde_json::to_writer(&mut count, value);
    let mut out = Zeroizing::new(Vec::with_capacity(count.0 + spare));
    let _ = serde_json::to_writer(&mut *out, value);
    out
}

/// [`json_zeroizing`] as a [`SecretString`] (the same allocation, not a copy).
pub fn json_secret<T: Serialize + ?Sized>(value: &T) -> SecretString {
    let mut bytes = json_zeroizing(value, 0);
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => SecretString::new(text),
        // serde_json writes UTF-8 only; wipe rather than drop if it did not.
        Err(e) => {
            e.into_bytes().zeroize();
            SecretString::default()
        }
    }
}

/// Reads `r` to its end (at most `limit` bytes) into a zeroizing buffer.
pub fn read_to_end_zeroizing(
    r: &mut impl std::io::Read,
    limit: usize,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(4096));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let room = (limit - buf.len()).min(chunk.len());
        if room == 0 {
            return Ok(buf);
        }
        match r.read(&mut chunk[..room]) {
            Ok(0) => return Ok(buf),
            Ok(n) => extend_zeroizing(&mut buf, &chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Best-effort `mlock` of the pages holding `bytes`, so a key is never swapped
/// out. Failure (RLIMIT_MEMLOCK, containers) is ignored: the process is
/// already non-dumpable and the key is zeroized on drop.
#[allow(unsafe_code)]
fn lock_memory(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    // SAFETY: mlock only changes paging of the given range, which is a live
    // allocation owned by the caller; it neither reads nor writes it.
    let _ = unsafe { rustix::mm::mlock(bytes.as_ptr().cast_mut().cast(), bytes.len()) };
}

/// The agent's global allocator: the system allocator, and every block wiped
/// as it is freed (1Password's `zeroizing-alloc`; `realloc` is the trait's
/// alloc, copy and free, so a moved block is wiped too). What no zeroizing
/// type reaches (the HTTP client's buffers, serde_json's scratch) keeps no
/// token once freed.
pub struct WipeOnFree(zeroizing_alloc::ZeroAlloc<std::alloc::System>);

impl WipeOnFree {
    /// The allocator, for `#[global_allocator]`.
    pub const fn new() -> Self {
        Self(zeroizing_alloc::ZeroAlloc(std::alloc::System))
    }
}

impl Default for WipeOnFree {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every method hands its arguments unchanged to `ZeroAlloc`, itself a
// `GlobalAlloc` over the system allocator.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for WipeOnFree {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.alloc(layout) }
    }

    // Out of line: inlined at each of the agent's ~4,000 drop sites, the wipe
    // added 156 kB of code, and the HTTPS agent grew to 3.9 MB resident
    // (README "Performance").
    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    // Out of line too: the trait's alloc, copy and free, not glibc's.
    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.realloc(ptr, layout, size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content() {
        let s = |v: &str| SecretString::from(v);
        assert_eq!(s("rt-1"), s("rt-1"));
        assert_ne!(s("rt-1"), s("rt-2"));
        assert_ne!(s("rt"), s("rt-1"), "a prefix is not equal");
        assert_ne!(s(""), s("x"));
        assert_eq!(s(""), SecretString::default());
    }

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::from("rt-very-secret");
        assert_eq!(format!("{s:?}"), "SecretString([redacted])");
        let k = SecretKey::random();
        assert_eq!(format!("{k:?}"), "SecretKey([redacted])");
    }

    #[test]
    fn json_is_written_into_one_allocation_of_its_final_size() {
        let value = serde_json::json!({
            "refresh_token": "rt-".repeat(100),
            "list": (0..50).collect::<Vec<u32>>(),
        });
        let expected = serde_json::to_string(&value).expect("json");
        let bytes = json_zeroizing(&value, 1);
        assert_eq!(&bytes[..], expected.as_bytes());
        // Never grown: sized by a first pass, so no reallocation freed a copy.
        assert_eq!(bytes.capacity(), expected.len() + 1);
        let secret = json_secret(&value);
        assert_eq!(secret.expose(), expected);
        assert_eq!(secret.0.capacity(), expected.len());
    }

    #[test]
    fn zeroizing_reads_grow_without_plain_copies() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let got = read_to_end_zeroizing(&mut &data[..], 1 << 20).expect("read");
        assert_eq!(&got[..], &data[..]);
        let capped = read_to_end_zeroizing(&mut &data[..], 100).expect("read");
        assert_eq!(capped.len(), 100);
        let mut buf = Zeroizing::new(Vec::with_capacity(2));
        extend_zeroizing(&mut buf, b"abc");
        extend_zeroizing(&mut buf, b"defgh");
        assert_eq!(&buf[..], b"abcdefgh");
    }

    #[test]
    fn serde_round_trip() {
        let s = SecretString::from("abc");
        let json = serde_json::to_string(&s).expect("serialize");
        assert_eq!(json, "\"abc\"");
        let back: SecretString = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back.expose(), "abc");
    }
}
