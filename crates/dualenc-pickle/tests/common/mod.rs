//! Crafting hostile input: protocol 2 pickles and `torch.save`-style zip archives whose
//! tensors, storages and entries say whatever a test needs.

#![allow(dead_code)]

use std::io::Write;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A tensor as `_rebuild_tensor_v2` describes it, over a `FloatStorage`.
pub struct TensorSpec<'a> {
    /// The storage key.
    pub key: &'a str,
    /// Elements the storage claims to have.
    pub numel: i64,
    /// Storage offset, in elements.
    pub offset: i64,
    /// The shape.
    pub size: &'a [i64],
    /// The strides, in elements.
    pub stride: &'a [i64],
}

/// `LONG1` with 8 bytes: any i64.
pub fn int(value: i64) -> Vec<u8> {
    let mut out = vec![0x8a, 8];
    out.extend(value.to_le_bytes());
    out
}

/// `BINUNICODE`.
pub fn text(value: &str) -> Vec<u8> {
    let mut out = vec![b'X'];
    out.extend(u32::try_from(value.len()).unwrap().to_le_bytes());
    out.extend(value.as_bytes());
    out
}

/// `GLOBAL module\nname\n`.
pub fn global(module: &str, name: &str) -> Vec<u8> {
    format!("c{module}\n{name}\n").into_bytes()
}

/// `MARK items... TUPLE`.
fn tuple(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![b'('];
    items.iter().for_each(|i| out.extend(i));
    out.push(b't');
    out
}

/// The opcodes that rebuild one tensor.
pub fn tensor(spec: &TensorSpec<'_>) -> Vec<u8> {
    let storage = tuple(&[
        text("storage"),
        global("torch", "FloatStorage"),
        text(spec.key),
        text("cpu"),
        int(spec.numel),
    ]);
    let mut args = storage;
    args.push(b'Q');
    args.extend(int(spec.offset));
    args.extend(tuple(
        &spec.size.iter().map(|&n| int(n)).collect::<Vec<_>>(),
    ));
    args.extend(tuple(
        &spec.stride.iter().map(|&n| int(n)).collect::<Vec<_>>(),
    ));
    args.push(0x89);
    args.extend(global("collections", "OrderedDict"));
    args.extend([b')', b'R']);
    let mut out = global("torch._utils", "_rebuild_tensor_v2");
    out.push(b'(');
    out.extend(args);
    out.extend([b't', b'R']);
    out
}

/// A protocol 2 pickle of the dict `{name: tensor, ...}`.
pub fn checkpoint_pickle(tensors: &[(&str, TensorSpec<'_>)]) -> Vec<u8> {
    let mut out = vec![0x80, 0x02, b'}', b'('];
    for (name, spec) in tensors {
        out.extend(text(name));
        out.extend(tensor(spec));
    }
    out.extend([b'u', b'.']);
    out
}

/// Contents of a storage entry.
pub enum Entry<'a> {
    /// These bytes, stored uncompressed (as `torch.save` does).
    Stored(&'a [u8]),
    /// This many zero bytes, deflated (a few hundred bytes per MiB).
    DeflatedZeros(u64),
}

/// A zip archive in the `torch.save` layout: `archive/data.pkl`, `archive/byteorder` and
/// `archive/data/KEY` for every storage given.
pub fn torch_zip(pickle: &[u8], storages: &[(&str, Entry<'_>)]) -> Vec<u8> {
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(pickle).unwrap();
    zip.start_file("archive/byteorder", stored).unwrap();
    zip.write_all(b"little").unwrap();
    for (key, entry) in storages {
        let name = format!("archive/data/{key}");
        match entry {
            Entry::Stored(bytes) => {
                zip.start_file(name, stored).unwrap();
                zip.write_all(bytes).unwrap();
            }
            Entry::DeflatedZeros(len) => {
                let deflated = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Deflated)
                    .large_file(*len >= u64::from(u32::MAX));
                zip.start_file(name, deflated).unwrap();
                write_zeros(&mut zip, *len);
            }
        }
    }
    zip.finish().unwrap().into_inner()
}

fn write_zeros(out: &mut impl Write, len: u64) {
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64);
        out.write_all(&chunk[..n as usize]).unwrap();
        left -= n;
    }
}

/// Rewrites the uncompressed size that the local and central headers of entry `name`
/// declare (a zip that lies about how far its entry inflates).
pub fn patch_declared_size(archive: &mut [u8], name: &str, size: u32) {
    let mut patched = 0;
    // (signature, offset of the name length, offset of the name, offset of the size)
    for (signature, len_at, name_at, size_at) in
        [(b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)]
    {
        for start in 0..archive.len().saturating_sub(name_at) {
            if &archive[start..start + 4] != signature {
                continue;
            }
            let len = u16::from_le_bytes([archive[start + len_at], archive[start + len_at + 1]]);
            let found = archive.get(start + name_at..start + name_at + usize::from(len));
            if found == Some(name.as_bytes()) {
                archive[start + size_at..start + size_at + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
    }
    assert_eq!(patched, 2, "entry {name}: local and central header");
}

/// Little-endian f32 bytes of `values`.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
