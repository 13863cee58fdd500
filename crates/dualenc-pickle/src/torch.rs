//! Reading `torch.save` files without PyTorch: the zip format (PyTorch >= 1.6) and the
//! legacy format (magic number, protocol, sys info, the object, storage keys, raw storages).
//!
//! Tensors are loaded on the CPU whatever their location tag (`cuda:0` included): the tag
//! is kept in [`StorageRef::location`] for information only.

use crate::error::{PickleError, TorchError};
use crate::unpickle::load_prefix;
use crate::value::Value;
use dualenc_data::untrusted::read_regular_file;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The legacy format's magic number `0x1950a86a20f9469cfc6c`, as `LONG1` stores it.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The only legacy protocol version PyTorch writes.
const LEGACY_PROTOCOL: i64 = 1001;
/// How many times its own length a zip checkpoint may inflate to, all entries together.
/// `torch.save` stores its entries uncompressed, so a real checkpoint inflates to less than
/// its own length; a re-compressed one of float weights hardly reaches twice. Beyond this
/// ratio an archive is a decompression bomb and is refused before the entry is inflated.
pub const MAX_ZIP_INFLATION: u64 = 32;
/// Most bytes read from the `byteorder` entry (`little` or `big`).
const MAX_BYTEORDER_LEN: u64 = 16;

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
    /// Number of elements of the tensor, `None` when the product of the shape overflows.
    pub fn numel(&self) -> Option<usize> {
        self.size
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n))
    }

    /// Checks that the view lies inside a storage of `available` elements and returns its
    /// number of elements. Every product and sum is checked, so a hostile shape, stride
    /// or offset is an error, never an overflow. A view may not hold more elements than
    /// its storage: state dicts hold no broadcast (stride 0) views, and the limit keeps
    /// what [`TorchFile::tensor`] allocates within the storage's own size.
    pub fn check_within(&self, available: usize) -> Result<usize, String> {
        let numel = self
            .numel()
            .ok_or_else(|| format!("shape {:?} overflows: too many elements", self.size))?;
        if self.offset > available {
            return Err(format!(
                "storage offset {} lies beyond the storage's {available} elements",
                self.offset
            ));
        }
        if numel == 0 {
            return Ok(0);
        }
        if numel > available {
            return Err(format!(
                "shape {:?} has {numel} elements, more than the storage's {available}",
                self.size
            ));
        }
        let last = self.last_index().ok_or_else(|| {
            format!(
                "shape {:?} with strides {:?} at offset {} overflows",
                self.size, self.stride, self.offset
            )
        })?;
        if last >= available {
            return Err(format!(
                "shape {:?} with strides {:?} at offset {} reaches element {last}, beyond \
                 the storage's {available}",
                self.size, self.stride, self.offset
            ));
        }
        Ok(numel)
    }

    /// Storage index of the view's last element (no dimension may be empty), `None` on
    /// overflow.
    fn last_index(&self) -> Option<usize> {
        self.size
            .iter()
            .zip(&self.stride)
            .try_fold(self.offset, |acc, (&n, &s)| {
                n.checked_sub(1)?.checked_mul(s)?.checked_add(acc)
            })
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
    let tensor = TensorRef {
        storage,
        offset: offset
            .checked_add(view_offset)
            .ok_or("storage offset overflows")?,
        size,
        stride,
    };
    tensor.check_within(tensor.storage.numel)?;
    Ok(tensor)
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
    /// Reads a torch file of either format. Only a regular file is read, and no more than
    /// its length (see [`read_regular_file`]).
    pub fn open(path: impl AsRef<Path>) -> Result<TorchFile, TorchError> {
        let path = path.as_ref();
        let bytes = read_regular_file(path).map_err(|source| TorchError::Io {
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
/// row-major order. The view is checked against the storage before anything is allocated.
fn gather(tref: &TensorRef, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let elem = tref.storage.dtype.size();
    let numel = tref.check_within(bytes.len() / elem)?;
    let nbytes = numel
        .checked_mul(elem)
        .ok_or_else(|| format!("shape {:?} overflows in bytes", tref.size))?;
    let mut out = Vec::with_capacity(nbytes);
    let mut index = vec![0usize; tref.size.len()];
    for _ in 0..numel {
        // No overflow: every linear index is at most the last one, checked above.
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

/// A storage as the pickle declares it: element type and number of elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StorageSpec {
    dtype: DType,
    numel: usize,
}

impl StorageSpec {
    /// Bytes the storage holds, `None` on overflow.
    fn nbytes(self) -> Option<usize> {
        self.numel.checked_mul(self.dtype.size())
    }
}

/// Every storage the tensors of `value` use, by key; a key declared with two different
/// types or sizes is an error.
fn storages_of(path: &Path, value: &Value) -> Result<HashMap<String, StorageSpec>, TorchError> {
    let mut refs = Vec::new();
    collect_storages(value, &mut refs);
    let mut out = HashMap::new();
    for storage in refs {
        let spec = StorageSpec {
            dtype: storage.dtype,
            numel: storage.numel,
        };
        match out.entry(storage.key.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(spec);
            }
            Entry::Occupied(slot) if *slot.get() == spec => {}
            Entry::Occupied(slot) => {
                let first = slot.get();
                return Err(TorchError::Storage {
                    path: path.to_owned(),
                    key: storage.key.clone(),
                    message: format!(
                        "declared as {} {:?} elements and as {} {:?} elements",
                        first.numel, first.dtype, spec.numel, spec.dtype
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// The storage of every tensor in `value`, in pickle order.
fn collect_storages<'v>(value: &'v Value, out: &mut Vec<&'v StorageRef>) {
    match value {
        Value::Tensor(t) => out.push(&t.storage),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            items.iter().for_each(|v| collect_storages(v, out))
        }
        Value::Dict(pairs) => pairs.iter().for_each(|(k, v)| {
            collect_storages(k, out);
            collect_storages(v, out);
        }),
        Value::Object(obj) => obj
            .args
            .iter()
            .chain(obj.state.iter())
            .for_each(|v| collect_storages(v, out)),
        Value::PersistentId(inner) => collect_storages(inner, out),
        _ => {}
    }
}

/// How many bytes a zip entry must inflate to.
#[derive(Debug, Clone, Copy)]
enum EntrySize {
    /// Any size up to this many bytes.
    AtMost(u64),
    /// Exactly this many bytes (a storage: numel times the element size).
    Exactly(u64),
}

/// What the entries of a zip checkpoint may still inflate to: [`MAX_ZIP_INFLATION`] times
/// the archive's length, all entries together.
#[derive(Debug, Clone, Copy)]
struct InflationBudget {
    /// Bytes left.
    left: u64,
    /// The archive's length, for messages.
    archive_len: u64,
}

impl InflationBudget {
    fn new(archive_len: usize) -> Self {
        let archive_len = u64::try_from(archive_len).unwrap_or(u64::MAX);
        InflationBudget {
            left: archive_len.saturating_mul(MAX_ZIP_INFLATION),
            archive_len,
        }
    }

    /// Why an entry declaring `declared` bytes may not be inflated, if it may not.
    fn refusal(&self, declared: u64, size: EntrySize) -> Option<String> {
        match size {
            EntrySize::Exactly(n) if declared != n => Some(format!(
                "declares {declared} bytes, but the pickle's storage needs exactly {n}"
            )),
            EntrySize::AtMost(n) if declared > n => Some(format!(
                "declares {declared} bytes, more than the {n} it may hold"
            )),
            _ if declared > self.left => Some(format!(
                "declares {declared} bytes, more than the {} left of the archive's inflation \
                 budget ({MAX_ZIP_INFLATION} times its {} bytes)",
                self.left, self.archive_len
            )),
            _ => None,
        }
    }
}

/// Reads the entries of a zip checkpoint within an [`InflationBudget`].
struct ZipEntries<'a> {
    path: &'a Path,
    archive: zip::ZipArchive<std::io::Cursor<&'a [u8]>>,
    budget: InflationBudget,
}

impl<'a> ZipEntries<'a> {
    fn new(path: &'a Path, bytes: &'a [u8]) -> Result<Self, TorchError> {
        let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| zip_error(path, "archive", e))?;
        Ok(ZipEntries {
            path,
            archive,
            budget: InflationBudget::new(bytes.len()),
        })
    }

    /// The entry `name` (`None` when the archive has none). Its declared size must fit
    /// `size` and the budget before anything is inflated.
    fn read(&mut self, name: &str, size: EntrySize) -> Result<Option<Vec<u8>>, TorchError> {
        let mut file = match self.archive.by_name(name) {
            Ok(file) => file,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(zip_error(self.path, name, e)),
        };
        let declared = file.size();
        if let Some(message) = self.budget.refusal(declared, size) {
            return Err(entry_error(self.path, name, message));
        }
        let data = inflate(self.path, name, &mut file, declared)?;
        self.budget.left -= declared;
        Ok(Some(data))
    }
}

/// Inflates an entry that declares `declared` bytes through a limit of one byte more, so
/// that a header that lies cannot make it inflate further; other than `declared` bytes is
/// an error.
fn inflate(
    path: &Path,
    name: &str,
    entry: &mut impl Read,
    declared: u64,
) -> Result<Vec<u8>, TorchError> {
    let mut buf = Vec::new();
    let capacity = usize::try_from(declared).unwrap_or(usize::MAX);
    buf.try_reserve_exact(capacity)
        .map_err(|_| entry_error(path, name, format!("{declared} bytes do not fit in memory")))?;
    entry
        .take(declared.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| zip_error(path, name, zip::result::ZipError::Io(e)))?;
    let inflated = u64::try_from(buf.len()).unwrap_or(u64::MAX);
    if inflated != declared {
        let how = if inflated > declared { "more" } else { "fewer" };
        let message = format!("inflates to {how} than the {declared} bytes it declares");
        return Err(entry_error(path, name, message));
    }
    Ok(buf)
}

fn zip_error(path: &Path, entry: &str, source: zip::result::ZipError) -> TorchError {
    TorchError::Zip {
        path: path.to_owned(),
        entry: entry.to_owned(),
        source,
    }
}

fn entry_error(path: &Path, entry: &str, message: String) -> TorchError {
    TorchError::Entry {
        path: path.to_owned(),
        entry: entry.to_owned(),
        message,
    }
}

fn read_zip(path: &Path, bytes: &[u8]) -> Result<TorchFile, TorchError> {
    let mut entries = ZipEntries::new(path, bytes)?;
    let pkl_name = entries
        .archive
        .file_names()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.len())
        .map(str::to_owned)
        .ok_or_else(|| TorchError::NotTorch {
            path: path.to_owned(),
            reason: "zip archive without a data.pkl entry".to_owned(),
        })?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_owned();
    let pickle = entries
        .read(&pkl_name, EntrySize::AtMost(u64::MAX))?
        .unwrap_or_default();
    let (root, _) = load_prefix(&pickle).map_err(|source| TorchError::Pickle {
        path: path.to_owned(),
        part: pkl_name.clone(),
        start: 0,
        source,
    })?;
    let order_entry = format!("{prefix}byteorder");
    let big_endian = match entries.read(&order_entry, EntrySize::AtMost(MAX_BYTEORDER_LEN))? {
        Some(order) => parse_byteorder(path, &order)?,
        None => false,
    };
    let mut storages = HashMap::new();
    for (key, spec) in storages_of(path, &root)? {
        let name = format!("{prefix}data/{key}");
        let storage_error = |message: String| TorchError::Storage {
            path: path.to_owned(),
            key: key.clone(),
            message,
        };
        let nbytes = spec
            .nbytes()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| storage_error(format!("{} elements overflow", spec.numel)))?;
        let data = entries
            .read(&name, EntrySize::Exactly(nbytes))?
            .ok_or_else(|| storage_error(format!("no zip entry {name}")))?;
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
    let specs = storages_of(path, &root)?;
    let mut storages = HashMap::new();
    for key in keys {
        let storage_error = |message: String| TorchError::Storage {
            path: path.to_owned(),
            key: key.clone(),
            message,
        };
        let spec = *specs.get(&key).ok_or_else(|| {
            storage_error(
                "listed in the file but used by no tensor (element size unknown)".to_owned(),
            )
        })?;
        let count_bytes = reader.take(8, &format!("the element count of storage {key}"))?;
        let mut count = [0u8; 8];
        count.copy_from_slice(count_bytes);
        let count = u64::from_le_bytes(count);
        if usize::try_from(count).ok() != Some(spec.numel) {
            return Err(storage_error(format!(
                "the file holds {count} elements, the pickle says {}",
                spec.numel
            )));
        }
        let nbytes = spec
            .nbytes()
            .ok_or_else(|| storage_error(format!("{count} elements overflow")))?;
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
