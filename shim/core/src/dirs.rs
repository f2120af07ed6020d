//! Directory listings in byte-wise name order: the snapshot layout and the ordering.
//!
//! The shim answers a directory's first `readdir` by reading the whole directory (through
//! the real `readdir64`) into a snapshot, then hands out the snapshot's records in byte-wise
//! order of their names (`strcmp` order, independent of locale and filesystem). A snapshot
//! is one buffer:
//!
//! ```text
//! records: [d_ino u64][d_off i64][d_reclen u16][d_type u8][d_name ... NUL][pad to 8] ...
//! index:   one u32 per record: its byte offset in `records`, sorted by name
//! ```
//!
//! Each record has the layout of glibc's `struct dirent64` (which on 64-bit Linux is also
//! `struct dirent`), so a pointer into the records is what `readdir` returns. After
//! sorting, [`number`] rewrites each record's `d_off` to its position in the order plus one
//! (the `telldir` value just after it), which is what `seekdir` accepts.

use core::cmp::Ordering;

/// Bytes before `d_name` in a `struct dirent64`.
pub const HEADER: usize = 19;
/// `sizeof(struct dirent64)`: callers may read (never write) this many bytes of a record,
/// so the buffer keeps at least this much after the last one.
pub const DIRENT_SIZE: usize = 280;
/// The longest name a record holds (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// The size of the record for a name of `name_len` bytes (header, name, NUL, padding to 8).
pub const fn record_len(name_len: usize) -> usize {
    (HEADER + name_len + 1 + 7) & !7
}

/// Writes one record for `name` at the start of `out`; its length, or `None` when it does
/// not fit or the name is empty, too long or holds a NUL.
pub fn put(out: &mut [u8], ino: u64, kind: u8, name: &[u8]) -> Option<usize> {
    if name.is_empty() || name.len() > NAME_MAX || name.contains(&0) {
        return None;
    }
    let len = record_len(name.len());
    let rec = out.get_mut(..len)?;
    rec.fill(0);
    rec[..8].copy_from_slice(&ino.to_ne_bytes());
    rec[16..18].copy_from_slice(&(len as u16).to_ne_bytes());
    rec[18] = kind;
    rec[HEADER..HEADER + name.len()].copy_from_slice(name);
    Some(len)
}

/// The name of the record at byte offset `at` (empty if `at` is out of range).
pub fn name(records: &[u8], at: u32) -> &[u8] {
    let rest = records.get(at as usize + HEADER..).unwrap_or(&[]);
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    &rest[..end]
}

/// Byte-wise order of two names (what `strcmp` returns, as an [`Ordering`]).
#[inline]
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

/// Sorts `index` (offsets into `records`) by the names of the records. O(n log n), in
/// place, no allocation; names in one directory are distinct, so the order is total.
pub fn sort(records: &[u8], index: &mut [u32]) {
    index.sort_unstable_by(|&a, &b| compare(name(records, a), name(records, b)));
}

/// Rewrites `d_off` of the `i`-th record in `index` to `i + 1`.
pub fn number(records: &mut [u8], index: &[u32]) {
    for (i, &at) in index.iter().enumerate() {
        if let Some(off) = records.get_mut(at as usize + 8..at as usize + 16) {
            off.copy_from_slice(&(i as i64 + 1).to_ne_bytes());
        }
    }
}

/// The offsets of the records in `records[..end]`, in buffer order, written to `index`;
/// how many there are (stops when `index` is full or a record is malformed). A transient
/// copy of the shim planted in a chroot's `/` ([`crate::chroot::is_plant`]) is left out.
pub fn scan(records: &[u8], end: usize, index: &mut [u32]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at + HEADER <= end && n < index.len() {
        let Some(len) = records.get(at + 16..at + 18) else {
            break;
        };
        let len = u16::from_ne_bytes([len[0], len[1]]) as usize;
        if len < HEADER + 2 || at + len > end {
            break;
        }
        if !crate::chroot::is_plant(name(records, at as u32)) {
            index[n] = at as u32;
            n += 1;
        }
        at += len;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(names: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut buf = vec![0u8; 4096];
        let mut end = 0;
        for (i, n) in names.iter().enumerate() {
            end += put(&mut buf[end..], 100 + i as u64, 8, n).unwrap();
        }
        (buf, end)
    }

    fn order(names: &[&[u8]]) -> Vec<Vec<u8>> {
        let (mut buf, end) = build(names);
        let mut index = vec![0u32; names.len()];
        assert_eq!(scan(&buf, end, &mut index), names.len());
        sort(&buf, &mut index);
        number(&mut buf, &index);
        for (i, &at) in index.iter().enumerate() {
            let off =
                i64::from_ne_bytes(buf[at as usize + 8..at as usize + 16].try_into().unwrap());
            assert_eq!(off, i as i64 + 1);
        }
        index.iter().map(|&at| name(&buf, at).to_vec()).collect()
    }

    #[test]
    fn records_have_the_dirent64_layout() {
        let mut buf = [0xffu8; 64];
        assert_eq!(put(&mut buf, 7, 4, b"ab"), Some(24));
        assert_eq!(&buf[..8], &7u64.to_ne_bytes());
        assert_eq!(&buf[16..18], &24u16.to_ne_bytes());
        assert_eq!(buf[18], 4);
        assert_eq!(&buf[19..22], b"ab\0");
        assert_eq!(buf[23], 0);
        assert_eq!(record_len(1), 24);
        assert_eq!(record_len(4), 24);
        assert_eq!(record_len(5), 32);
        assert_eq!(record_len(NAME_MAX), DIRENT_SIZE);
    }

    #[test]
    fn bad_names_and_full_buffers_are_refused() {
        let mut buf = [0u8; 32];
        assert_eq!(put(&mut buf, 1, 0, b""), None);
        assert_eq!(put(&mut buf, 1, 0, b"a\0b"), None);
        assert_eq!(put(&mut buf, 1, 0, &[b'x'; 256]), None);
        assert_eq!(put(&mut buf, 1, 0, &[b'x'; 20]), None);
    }

    #[test]
    fn order_is_bytewise_whatever_the_input_order() {
        let names: [&[u8]; 9] = [
            b"zeta",
            b".",
            b"Mid",
            b"..",
            b"_x",
            b"10",
            b"9",
            b"\xc3\xa9t\xc3\xa9",
            b"alpha",
        ];
        let want: Vec<Vec<u8>> = [
            &b"."[..],
            b"..",
            b"10",
            b"9",
            b"Mid",
            b"_x",
            b"alpha",
            b"zeta",
            b"\xc3\xa9t\xc3\xa9",
        ]
        .iter()
        .map(|n| n.to_vec())
        .collect();
        assert_eq!(order(&names), want);
        let mut reversed = names;
        reversed.reverse();
        assert_eq!(order(&reversed), want);
    }

    #[test]
    fn scan_leaves_out_a_copy_of_the_shim_planted_in_a_chroot() {
        let mut index = [0u32; 8];
        let mut with_plant = [0u8; 256];
        let mut len = 0;
        for name in [&b"etc"[..], b".detbuild-shim.9.1.2.3.4.so", b"usr"] {
            len += put(&mut with_plant[len..], 1, 4, name).unwrap();
        }
        assert_eq!(scan(&with_plant, len, &mut index), 2);
        assert_eq!(name(&with_plant, index[1]), b"usr");
    }

    #[test]
    fn scan_stops_at_malformed_records_and_full_index() {
        let (buf, end) = build(&[b"a", b"b", b"c"]);
        let mut two = [0u32; 2];
        assert_eq!(scan(&buf, end, &mut two), 2);
        let mut index = [0u32; 8];
        assert_eq!(scan(&buf, end - 1, &mut index), 2);
        assert_eq!(scan(&[0u8; 64], 64, &mut index), 0);
        assert_eq!(name(&buf, 9999), b"");
    }
}
