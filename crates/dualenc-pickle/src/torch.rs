//! Reading `torch.save` files without PyTorch: the zip format (PyTorch >= 1.6) and the
//! legacy format (magic number, protocol, sys info, the object, storage keys, raw storages).
//!
//! Tensors are loaded on the CPU whatever their location tag (`cuda:0` included): the tag
//! is kept in [`StorageRef::location`] for information only.

use crate::error::{PickleError, TorchError};
use crate::unpickle::load_prefix;
use crate::value::Value;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The legacy format's magic number `0x1950a86a20f9469cfc6c`, as `LONG1` stores it.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The only legacy protocol version PyTorch writes.
const LEGACY_PROTOCOL: i64 = 1001;

/// Element type of a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// float32 (`FloatStorage`).
    F32,
    /// float64 (`DoubleStorage`).
    F64,
    /// float16 (`HalfStorage`), widened to f32 when read.
    F16,
    /// bfloat16 (`BFloat16Storage`), widened to f32 when read.
    BF16,
    /// int64 (`LongStorage`).
    I64,
    /// int32 (`IntStorage`).
    I32,
    /// int16 (`ShortStorage`).
    I16,
    /// int8 (`CharStorage`).
    I8,
    /// uint8 (`ByteStorage`).
    U8,
    /// bool (`BoolStorage`).
    Bool,
}

impl DType {
    /// The dtype of a storage class name (`FloatStorage`) or a dtype name (`float32`).
    pub fn from_torch_name(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" | "float32" | "float" => DType::F32,
            "DoubleStorage" | "float64" | "double" => DType::F64,
            "HalfStorage" | "float16" | "half" => DType::F16,
            "BFloat16Storage" | "bfloat16" => DType::BF16,
            "LongStorage" | "int64" | "long" => DType::I64,
            "IntStorage" | "int32" | "int" => DType::I32,
            "ShortStorage" | "int16" | "short" => DType::I16,
            "CharStorage" | "int8" => DType::I8,
            "ByteStorage" | "uint8" => DType::U8,
            "BoolStorage" | "bool" => DType::Bool,
            _ => return None,
        })
    }

    /// Bytes per element in the file.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
}

/// A storage named by a tensor: where its bytes are and how to read them.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// The storage key (`data/<key>` in the zip format).
    pub key: String,
    /// The element type.
    pub dtype: DType,
    /// The device tag at save time (`cpu`, `cuda:0`); ignored when loading.
    pub location: String,
    /// Number of elements the pickle says the storage has.
    pub numel: usize,
}

/// A tensor as the pickle describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// The storage holding the elements.
    pub storage: StorageRef,
    /// Offset of the first element, in elements.
    pub offset: usize,
    /// The shape.
    pub size: Vec<usize>,
    /// Strides in elements, one per dimension.
    pub stride: Vec<usize>,
}

impl TensorRef {
    /// Number of elements of the tensor.
    pub fn numel(&self) -> usize {
        self.size.iter().product()
    }

    /// A one-line description such as `tensor F32 [24, 16] (storage 0)`.
    pub fn describe(&self) -> String {
        format!(
            "tensor {:?} {:?} (storage {})",
            self.storage.dtype, self.size, self.storage.key
        )
    }
}

/// Builds a [`TensorRef`] from the arguments of `torch._utils._rebuild_tensor_v2`
/// (`storage, offset, size, stride, ...`) or `_rebuild_tensor` (the first four).
pub(crate) fn tensor_ref_from_args(args: &[Value]) -> Result<TensorRef, String> {
    let [storage, offset, size, stride, ..] = args else {
        return Err(format!(
            "expected (storage, offset, size, stride, ...), found {} arguments",
            args.len()
        ));
    };
    let (storage, view_offset) = storage_ref(storage)?;
    let offset = to_usize(offset, "storage offset")?;
    let size = usize_list(size, "size")?;
    let stride = usize_list(stride, "stride")?;
    if size.len() != stride.len() {
        return Err(format!(
            "size {size:?} and stride {stride:?} differ in length"
        ));
    }
    Ok(TensorRef {
        storage,
        offset: offset
            .checked_add(view_offset)
            .ok_or("storage offset overflows")?,
        size,
        stride,
    })
}

/// Parses a storage persistent id `('storage', StorageType, key, location, numel[, view])`;
/// returns the storage and the legacy view offset (0 without a view).
fn storage_ref(value: &Value) -> Result<(StorageRef, usize), String> {
    let Value::PersistentId(pid) = value else {
        return Err(format!(
            "expected a storage persistent id, found {}",
            value.type_name()
        ));
    };
    let fields = pid.as_seq().unwrap_or_default();
    let [tag, kind, key, location, numel, rest @ ..] = fields else {
        return Err("storage id must be ('storage', type, key, location, numel)".to_owned());
    };
    if tag.as_str() != Some("storage") {
        return Err(format!("persistent id tag is {tag:?}, expected 'storage'"));
    }
    let dtype = match kind {
        Value::Global { name, .. } => DType::from_torch_name(name)
            .ok_or_else(|| format!("unsupported storage type {name}"))?,
        other => return Err(format!("storage type is a {}", other.type_name())),
    };
    let key = match key {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => return Err(format!("storage key is a {}", other.type_name())),
    };
    let storage = StorageRef {
        key,
        dtype,
        location: location.as_str().unwrap_or_default().to_owned(),
        numel: to_usize(numel, "storage size")?,
    };
    let view_offset = match rest.first() {
        None | Some(Value::None) => 0,
        Some(view) => view
            .as_seq()
            .and_then(|v| v.get(1))
            .ok_or_else(|| "storage view must be (key, offset, size)".to_owned())
            .and_then(|o| to_usize(o, "view offset"))?,
    };
    Ok((storage, view_offset))
}

fn to_usize(value: &Value, what: &str) -> Result<usize, String> {
    value
        .as_i64()
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| format!("{what} must be a non-negative int, found {value:?}"))
}

fn usize_list(value: &Value, what: &str) -> Result<Vec<usize>, String> {
    value
        .as_seq()
        .ok_or_else(|| format!("{what} must be a tuple, found {}", value.type_name()))?
        .iter()
        .map(|v| to_usize(v, what))
        .collect()
}

/// The elements of a loaded tensor, in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// float32, and float16/bfloat16 widened.
    F32(Vec<f32>),
    /// float64.
    F64(Vec<f64>),
    /// int64.
    I64(Vec<i64>),
    /// int32.
    I32(Vec<i32>),
    /// int16.
    I16(Vec<i16>),
    /// int8.
    I8(Vec<i8>),
    /// uint8.
    U8(Vec<u8>),
    /// bool.
    Bool(Vec<bool>),
}

/// A tensor with its data copied out of the storage (contiguous, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The element type in the file.
    pub dtype: DType,
    /// The elements.
    pub data: TensorData,
}

impl Tensor {
    /// The data as f32 when the tensor is floating point of at most 32 bits.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The data as i64 when the tensor is int64.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            _ => None,
        }
    }
}

/// Which container a torch file used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchFormat {
    /// The zip format of PyTorch >= 1.6 (`<folder>/data.pkl`, `<folder>/data/<key>`).
    Zip,
    /// The pre-1.6 format (`_use_new_zipfile_serialization=False`).
    Legacy,
}

/// A `torch.save` file: its unpickled object and the storages its tensors use.
#[derive(Debug)]
pub struct TorchFile {
    /// The saved object (e.g. a checkpoint dict).
    pub root: Value,
    /// The container format.
    pub format: TorchFormat,
    path: PathBuf,
    /// Raw storage bytes by key.
    storages: HashMap<String, Vec<u8>>,
    /// Whether the storages are big-endian (zip `byteorder` file says `big`).
    big_endian: bool,
}

impl TorchFile {
    /// Reads a torch file of either format.
    pub fn open(path: impl AsRef<Path>) -> Result<TorchFile, TorchError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TorchError::Io {
            path: path.to_owned(),
            source,
        })?;
        TorchFile::from_bytes(path, &bytes)
    }

    /// Reads a torch file held in memory; `path` is only used in error messages.
    pub fn from_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<TorchFile, TorchError> {
        let path = path.as_ref();
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            read_zip(path, bytes)
        } else if bytes.first() == Some(&0x80) {
            read_legacy(path, bytes)
        } else {
            Err(TorchError::NotTorch {
                path: path.to_owned(),
                reason: format!(
                    "starts with {:02x?}, neither a zip archive nor a pickle",
                    &bytes[..bytes.len().min(4)]
                ),
            })
        }
    }

    /// The file's path, as given to [`TorchFile::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks up `key` in the root object (a dict or an object's attributes).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.root.get(key)
    }

    /// Loads a tensor value ([`Value::Tensor`]) into a contiguous [`Tensor`].
    pub fn tensor(&self, value: &Value) -> Result<Tensor, TorchError> {
        let Value::Tensor(tref) = value else {
            return Err(self.structure(format!("expected a tensor, found {}", value.type_name())));
        };
        let key = &tref.storage.key;
        let bytes = self
            .storages
            .get(key)
            .ok_or_else(|| self.storage_error(key, "not in the file".to_owned()))?;
        let raw = gather(tref, bytes).map_err(|m| self.storage_error(key, m))?;
        let data = decode(tref.storage.dtype, &raw, self.big_endian);
        Ok(Tensor {
            shape: tref.size.clone(),
            dtype: tref.storage.dtype,
            data,
        })
    }

    /// Loads a state dict (a dict from parameter names to tensors), in its order.
    pub fn state_dict(&self, value: &Value) -> Result<Vec<(String, Tensor)>, TorchError> {
        let pairs = value.as_dict().ok_or_else(|| {
            self.structure(format!(
                "expected a state dict, found {}",
                value.type_name()
            ))
        })?;
        pairs
            .iter()
            .map(|(k, v)| {
                let name = k
                    .as_str()
                    .ok_or_else(|| self.structure(format!("state dict key {k:?} is not a str")))?;
                let tensor = self.tensor(v).map_err(|e| match e {
                    TorchError::Structure { path, message } => TorchError::Structure {
                        path,
                        message: format!("state dict entry {name:?}: {message}"),
                    },
                    other => other,
                })?;
                Ok((name.to_owned(), tensor))
            })
            .collect()
    }

    fn structure(&self, message: String) -> TorchError {
        TorchError::Structure {
            path: self.path.clone(),
            message,
        }
    }

    fn storage_error(&self, key: &str, message: String) -> TorchError {
        TorchError::Storage {
            path: self.path.clone(),
            key: key.to_owned(),
            message,
        }
    }
}

/// Copies a tensor's elements (raw bytes, `dtype.size()` each) out of its storage in
/// row-major order, checking every index against the storage length.
fn gather(tref: &TensorRef, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let elem = tref.storage.dtype.size();
    let available = bytes.len() / elem;
    let numel = tref.numel();
    let mut out = Vec::with_capacity(numel.saturating_mul(elem));
    if numel == 0 {
        return Ok(out);
    }
    let last = tref
        .size
        .iter()
        .zip(&tref.stride)
        .try_fold(tref.offset, |acc, (&n, &s)| {
            (n - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
        })
        .ok_or("tensor index overflows")?;
    if last >= available {
        return Err(format!(
            "tensor {:?} at offset {} needs element {last}, the storage has {available} ({} bytes)",
            tref.size,
            tref.offset,
            bytes.len()
        ));
    }
    let mut index = vec![0usize; tref.size.len()];
    for _ in 0..numel {
        let linear: usize = tref.offset
            + index
                .iter()
                .zip(&tref.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        let start = linear * elem;
        out.extend_from_slice(bytes.get(start..start + elem).ok_or("index out of range")?);
        advance(&mut index, &tref.size);
    }
    Ok(out)
}

/// Moves a row-major multi-index one step forward.
fn advance(index: &mut [usize], shape: &[usize]) {
    for (i, &n) in index.iter_mut().zip(shape).rev() {
        *i += 1;
        if *i < n {
            return;
        }
        *i = 0;
    }
}

/// Converts raw element bytes to typed data.
fn decode(dtype: DType, raw: &[u8], big_endian: bool) -> TensorData {
    fn words<const N: usize>(raw: &[u8], big_endian: bool) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(move |c| {
            let mut w = [0u8; N];
            w.copy_from_slice(c);
            if big_endian {
                w.reverse();
            }
            w
        })
    }
    match dtype {
        DType::F32 => TensorData::F32(words(raw, big_endian).map(f32::from_le_bytes).collect()),
        DType::F64 => TensorData::F64(words(raw, big_endian).map(f64::from_le_bytes).collect()),
        DType::F16 => TensorData::F32(
            words(raw, big_endian)
                .map(|w| f16_to_f32(u16::from_le_bytes(w)))
                .collect(),
        ),
        DType::BF16 => TensorData::F32(
            words(raw, big_endian)
                .map(|w| f32::from_bits(u32::from(u16::from_le_bytes(w)) << 16))
                .collect(),
        ),
        DType::I64 => TensorData::I64(words(raw, big_endian).map(i64::from_le_bytes).collect()),
        DType::I32 => TensorData::I32(words(raw, big_endian).map(i32::from_le_bytes).collect()),
        DType::I16 => TensorData::I16(words(raw, big_endian).map(i16::from_le_bytes).collect()),
        DType::I8 => TensorData::I8(raw.iter().map(|&b| b as i8).collect()),
        DType::U8 => TensorData::U8(raw.to_vec()),
        DType::Bool => TensorData::Bool(raw.iter().map(|&b| b != 0).collect()),
    }
}

/// IEEE half to single precision (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = frac * 2^-24.
            let magnitude = frac as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -magnitude } else { magnitude };
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Every storage the tensors of `value` use, with its dtype.
fn storages_of(value: &Value, out: &mut HashMap<String, DType>) {
    match value {
        Value::Tensor(t) => {
            out.insert(t.storage.key.clone(), t.storage.dtype);
        }
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            items.iter().for_each(|v| storages_of(v, out))
        }
        Value::Dict(pairs) => pairs.iter().for_each(|(k, v)| {
            storages_of(k, out);
            storages_of(v, out);
        }),
        Value::Object(obj) => obj
            .args
            .iter()
            .chain(obj.state.iter())
            .for_each(|v| storages_of(v, out)),
        Value::PersistentId(inner) => storages_of(inner, out),
        _ => {}
    }
}

fn read_zip(path: &Path, bytes: &[u8]) -> Result<TorchFile, TorchError> {
    let zip_err = |entry: &str, source| TorchError::Zip {
        path: path.to_owned(),
        entry: entry.to_owned(),
        source,
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| zip_err("archive", e))?;
    let pkl_name = archive
        .file_names()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.len())
        .map(str::to_owned)
        .ok_or_else(|| TorchError::NotTorch {
            path: path.to_owned(),
            reason: "zip archive without a data.pkl entry".to_owned(),
        })?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_owned();
    let mut read_entry = |name: &str| -> Result<Option<Vec<u8>>, TorchError> {
        let mut file = match archive.by_name(name) {
            Ok(file) => file,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(zip_err(name, e)),
        };
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)
            .map_err(|e| zip_err(name, zip::result::ZipError::Io(e)))?;
        Ok(Some(buf))
    };
    let pickle = read_entry(&pkl_name)?.unwrap_or_default();
    let (root, _) = load_prefix(&pickle).map_err(|source| TorchError::Pickle {
        path: path.to_owned(),
        part: pkl_name.clone(),
        start: 0,
        source,
    })?;
    let big_endian = match read_entry(&format!("{prefix}byteorder"))? {
        Some(order) => parse_byteorder(path, &order)?,
        None => false,
    };
    let mut wanted = HashMap::new();
    storages_of(&root, &mut wanted);
    let mut storages = HashMap::new();
    for key in wanted.into_keys() {
        let name = format!("{prefix}data/{key}");
        let data = read_entry(&name)?.ok_or_else(|| TorchError::Storage {
            path: path.to_owned(),
            key: key.clone(),
            message: format!("no zip entry {name}"),
        })?;
        storages.insert(key, data);
    }
    Ok(TorchFile {
        root,
        format: TorchFormat::Zip,
        path: path.to_owned(),
        storages,
        big_endian,
    })
}

fn parse_byteorder(path: &Path, order: &[u8]) -> Result<bool, TorchError> {
    match order.trim_ascii() {
        b"little" => Ok(false),
        b"big" => Ok(true),
        other => Err(TorchError::NotTorch {
            path: path.to_owned(),
            reason: format!(
                "byteorder entry is {:?}, expected little or big",
                String::from_utf8_lossy(other)
            ),
        }),
    }
}

/// Reads the consecutive pickles of a legacy file.
struct LegacyReader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl LegacyReader<'_> {
    fn next_pickle(&mut self, part: &str) -> Result<Value, TorchError> {
        let start = self.pos;
        let rest = self.bytes.get(start..).unwrap_or_default();
        let (value, used) = load_prefix(rest).map_err(|source| self.pickle_error(part, source))?;
        self.pos = start + used;
        Ok(value)
    }

    fn pickle_error(&self, part: &str, source: PickleError) -> TorchError {
        TorchError::Pickle {
            path: self.path.to_owned(),
            part: part.to_owned(),
            start: self.pos,
            source,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], TorchError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(TorchError::NotTorch {
                path: self.path.to_owned(),
                reason: format!(
                    "truncated at byte {}: {what} needs {n} bytes, {} left",
                    self.pos,
                    self.bytes.len() - self.pos.min(self.bytes.len())
                ),
            });
        };
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
}

fn read_legacy(path: &Path, bytes: &[u8]) -> Result<TorchFile, TorchError> {
    let not_torch = |reason: String| TorchError::NotTorch {
        path: path.to_owned(),
        reason,
    };
    let mut reader = LegacyReader {
        path,
        bytes,
        pos: 0,
    };
    let magic = reader.next_pickle("legacy magic number")?;
    if magic != Value::BigInt(LEGACY_MAGIC.to_vec()) {
        return Err(not_torch(format!(
            "a pickle of {} that is not the legacy torch magic number",
            magic.type_name()
        )));
    }
    let protocol = reader.next_pickle("legacy protocol version")?;
    if protocol.as_i64() != Some(LEGACY_PROTOCOL) {
        return Err(not_torch(format!(
            "legacy protocol version {protocol:?}, expected {LEGACY_PROTOCOL}"
        )));
    }
    reader.next_pickle("legacy sys info")?;
    let root = reader.next_pickle("legacy main pickle")?;
    let keys_value = reader.next_pickle("legacy storage keys")?;
    let keys: Vec<String> = keys_value
        .as_seq()
        .and_then(|items| {
            items
                .iter()
                .map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .ok_or_else(|| {
            not_torch(format!(
                "storage keys are {keys_value:?}, expected a list of str"
            ))
        })?;
    let mut dtypes = HashMap::new();
    storages_of(&root, &mut dtypes);
    let mut storages = HashMap::new();
    for key in keys {
        let dtype = *dtypes.get(&key).ok_or_else(|| TorchError::Storage {
            path: path.to_owned(),
            key: key.clone(),
            message: "listed in the file but used by no tensor (element size unknown)".to_owned(),
        })?;
        let count_bytes = reader.take(8, &format!("the element count of storage {key}"))?;
        let mut count = [0u8; 8];
        count.copy_from_slice(count_bytes);
        let nbytes = usize::try_from(u64::from_le_bytes(count))
            .ok()
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| not_torch(format!("storage {key} has an impossible size")))?;
        let data = reader.take(nbytes, &format!("storage {key}"))?.to_vec();
        storages.insert(key, data);
    }
    Ok(TorchFile {
        root,
        format: TorchFormat::Legacy,
        path: path.to_owned(),
        storages,
        // Legacy files always store little-endian data.
        big_endian: false,
    })
}
