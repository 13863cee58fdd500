//! The [`Value`] tree an unpickled object becomes.
//!
//! Nothing is executed: classes the reader does not know become [`Value::Object`], which
//! keeps the constructor arguments and the `BUILD` state (e.g. an argparse `Namespace`'s
//! `__dict__` or a `__main__.Vocabulary`'s attributes) so callers can read them.

use crate::torch::TensorRef;

/// A Python object read from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// A larger int: little-endian two's complement bytes, as `LONG1`/`LONG4` store them.
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes`, `bytearray` or a Python 2 `str` (`BINSTRING`).
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict` (or `collections.OrderedDict`): pairs in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A `set` or `frozenset`, in pickle order.
    Set(Vec<Value>),
    /// A reference to a module attribute (a class or function) that was never called.
    Global {
        /// The module, e.g. `torch`.
        module: String,
        /// The attribute, e.g. `FloatStorage`.
        name: String,
    },
    /// An instance of a class the reader does not interpret.
    Object(Box<PyObject>),
    /// A persistent id (`BINPERSID`) the reader could not interpret further.
    PersistentId(Box<Value>),
    /// A torch tensor (`torch._utils._rebuild_tensor_v2` and friends), not yet resolved to
    /// data: see [`crate::torch::TorchFile::tensor`].
    Tensor(TensorRef),
}

/// An instance of an uninterpreted class: how it was constructed and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct PyObject {
    /// Module of the class (or function) that built it, e.g. `argparse`.
    pub module: String,
    /// Name of the class (or function), e.g. `Namespace`.
    pub name: String,
    /// Positional arguments of the call (`NEWOBJ`, `NEWOBJ_EX`, `REDUCE`).
    pub args: Vec<Value>,
    /// Keyword arguments (`NEWOBJ_EX` only).
    pub kwargs: Vec<(Value, Value)>,
    /// The `BUILD` state, usually the instance `__dict__`.
    pub state: Option<Value>,
}

impl Value {
    /// A short name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::Global { .. } => "global",
            Value::Object(_) => "object",
            Value::PersistentId(_) => "persistent id",
            Value::Tensor(_) => "tensor",
        }
    }

    /// Looks up `key` in a dict with string keys, or in an object's state dict (its
    /// attributes). `None` when absent or when `self` has neither.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            Value::Object(obj) => obj.attributes()?.get(key),
            _ => None,
        }
    }

    /// The int, if this is one that fits in 64 bits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number as a float: floats, and ints (Python mixes them freely).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The bool, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The pairs of a dict.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// A JSON rendering, for display and comparison: dict keys become strings (`str`
    /// keys as they are, others as their JSON text), objects become their state (or
    /// `{"__class__": ..., "args": ...}` without one), bytes and big ints become hex strings,
    /// tensors a short description. Non-finite floats become `null` (JSON has none).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::None => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::BigInt(bytes) | Value::Bytes(bytes) => J::String(hex(bytes)),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
                J::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Dict(pairs) => J::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (json_key(k), v.to_json()))
                    .collect(),
            ),
            Value::Global { module, name } => J::String(format!("{module}.{name}")),
            Value::Object(obj) => obj.to_json(),
            Value::PersistentId(pid) => serde_json::json!({ "persistent_id": pid.to_json() }),
            Value::Tensor(t) => J::String(t.describe()),
        }
    }
}

impl PyObject {
    /// The instance attributes: the state when it is a dict, or the dict half of a
    /// `(dict, slots)` state tuple.
    pub fn attributes(&self) -> Option<&Value> {
        match &self.state {
            Some(state @ Value::Dict(_)) => Some(state),
            Some(Value::Tuple(parts)) => parts.first().filter(|p| p.as_dict().is_some()),
            _ => None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match &self.state {
            Some(state) => state.to_json(),
            None => serde_json::json!({
                "__class__": format!("{}.{}", self.module, self.name),
                "args": self.args.iter().map(Value::to_json).collect::<Vec<_>>(),
            }),
        }
    }
}

fn json_key(key: &Value) -> String {
    match key {
        Value::Str(s) => s.clone(),
        other => other.to_json().to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
