//! A pickle virtual machine that builds [`Value`]s and never imports or calls anything.
//!
//! Memo entries are shared the Python way: a memoised container that is filled later (the
//! usual `EMPTY_DICT BINPUT MARK ... SETITEMS` sequence) is seen filled through every
//! `BINGET`. The stack holds `Node`s that point into the memo; the final value is resolved
//! at `STOP` (a cycle is an error, as is nesting deeper than [`MAX_DEPTH`] or copying out
//! more than [`MAX_EXPANSION`] times the input's length through shared references).
//!
//! Lengths (`BINUNICODE`, `LONG4`, `BINBYTES8`, ...) are checked against the bytes left
//! before anything is copied, and the memo is a map, so a huge memo key allocates nothing.

use crate::error::PickleError;
use crate::node::{
    expansion_message, into_pairs, node_depth, node_kind, scalar, value_node, Meta, Node,
    ObjectNode, Resolver,
};
use crate::torch::tensor_ref_from_args;
use crate::value::Value;
use std::cell::Cell;
use std::collections::HashMap;

/// Deepest nesting of containers accepted (real checkpoints nest fewer than 10 levels).
pub const MAX_DEPTH: u32 = 200;
/// How many times its own length in bytes a pickle may expand to when values are copied
/// out of it: every value copied counts 1, plus the bytes of its text (str, bytes, big
/// ints, global names) and the dimensions of a tensor; the final value, every argument the
/// reader interprets (`OrderedDict(pairs)`, `_rebuild_tensor_v2(...)`) and every `DUP`
/// draw on one budget. A pickle without shared references copies out no more than its
/// length (about twice for interpreted arguments), so only heavy sharing (a list holding
/// the same list twice, level after level; a long string referenced a thousand times)
/// reaches this, which keeps memory proportional to the input.
pub const MAX_EXPANSION: usize = 8;

/// Reads one pickle from the start of `bytes`; bytes after `STOP` are ignored (as Python's
/// `pickle.loads` does).
pub fn loads(bytes: &[u8]) -> Result<Value, PickleError> {
    load_prefix(bytes).map(|(value, _)| value)
}

/// Reads one pickle from the start of `bytes` and returns it with the number of bytes it
/// used (through `STOP`), for files that hold several pickles in a row.
pub fn load_prefix(bytes: &[u8]) -> Result<(Value, usize), PickleError> {
    let mut machine = Machine::new(bytes);
    let value = machine.run()?;
    Ok((value, machine.pos))
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for error messages.
    op_start: usize,
    op_name: &'static str,
    stack: Vec<Node>,
    marks: Vec<usize>,
    memo: HashMap<u32, Node>,
    /// What may still be copied out (see [`MAX_EXPANSION`]).
    budget: Cell<usize>,
}

/// Python's name for each opcode this machine executes.
fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Machine {
            data,
            pos: 0,
            op_start: 0,
            op_name: "",
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            budget: Cell::new(data.len().saturating_mul(MAX_EXPANSION)),
        }
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            self.op_start = self.pos;
            let op = self.take(1, "an opcode")?[0];
            self.op_name = opcode_name(op).ok_or(PickleError::UnknownOpcode {
                offset: self.op_start,
                opcode: op,
            })?;
            if op == b'.' {
                let top = self.pop()?;
                return self.resolve(top);
            }
            self.step(op)?;
        }
    }

    /// Executes one opcode other than `STOP`.
    fn step(&mut self, op: u8) -> Result<(), PickleError> {
        match op {
            0x80 => self.take(1, "the protocol number").map(drop),
            0x95 => self.take(8, "the frame length").map(drop),
            b'(' => {
                self.marks.push(self.stack.len());
                Ok(())
            }
            b'0' => self.pop().map(drop),
            b'1' => self.pop_mark().map(drop),
            b'2' => self.dup(),
            b'N' => self.push(scalar(Value::None)),
            0x88 => self.push(scalar(Value::Bool(true))),
            0x89 => self.push(scalar(Value::Bool(false))),
            b'J' | b'K' | b'M' | 0x8a | 0x8b | b'I' | b'L' => self.int(op),
            b'G' | b'F' => self.float(op),
            b'X' | 0x8c | 0x8d => self.unicode(op),
            b'T' | b'U' | b'B' | b'C' | 0x8e | 0x96 => self.bytes(op),
            b'}' => self.push(Node::Dict(Vec::new(), 1)),
            b']' => self.push(Node::List(Vec::new(), 1)),
            b')' => self.push(Node::Tuple(Vec::new(), 1)),
            0x8f => self.push(Node::Set(Vec::new(), 1)),
            b'd' => self.dict_from_mark(),
            b'l' => self.collect_mark(Node::List),
            b't' => self.collect_mark(Node::Tuple),
            0x91 => self.collect_mark(Node::Set),
            0x85..=0x87 => self.small_tuple(usize::from(op - 0x84)),
            b'a' => self.append(),
            b'e' => self.appends(),
            b's' => self.setitem(),
            b'u' => self.setitems(),
            0x90 => self.additems(),
            b'c' => self.global(),
            0x93 => self.stack_global(),
            b'p' | b'q' | b'r' | 0x94 => self.put(op),
            b'g' | b'h' | b'j' => self.get(op),
            b'Q' => self.persid(),
            b'R' => self.reduce(),
            0x81 => self.newobj(false),
            0x92 => self.newobj(true),
            b'b' => self.build(),
            _ => Err(PickleError::Unsupported {
                offset: self.op_start,
                name: self.op_name,
            }),
        }
    }

    // ----- input -----

    fn take(&mut self, n: usize, expected: &str) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let bytes = &self.data[self.pos..end];
                self.pos = end;
                Ok(bytes)
            }
            None => Err(PickleError::Truncated {
                offset: self.pos,
                expected: format!("{expected} ({n} bytes) for {}", self.op_name),
            }),
        }
    }

    fn take_array<const N: usize>(&mut self, expected: &str) -> Result<[u8; N], PickleError> {
        let bytes = self.take(N, expected)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A length operand of `width` bytes (1, 4 or 8, little-endian).
    fn take_len(&mut self, width: usize) -> Result<usize, PickleError> {
        let raw = match width {
            1 => u64::from(self.take_array::<1>("a length")?[0]),
            4 => u64::from(u32::from_le_bytes(self.take_array("a length")?)),
            _ => u64::from_le_bytes(self.take_array("a length")?),
        };
        usize::try_from(raw).map_err(|_| self.invalid(format!("length {raw} is too large")))
    }

    fn take_line(&mut self) -> Result<&'a str, PickleError> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| PickleError::Truncated {
                offset: self.pos,
                expected: format!("a newline-terminated operand for {}", self.op_name),
            })?;
        let line = self.take(len + 1, "a line")?;
        std::str::from_utf8(&line[..len])
            .map_err(|_| self.invalid("operand line is not UTF-8".to_owned()))
    }

    fn invalid(&self, message: String) -> PickleError {
        PickleError::Invalid {
            offset: self.op_start,
            opcode: self.op_name,
            message,
        }
    }

    // ----- stack -----

    fn push(&mut self, node: Node) -> Result<(), PickleError> {
        self.stack.push(node);
        Ok(())
    }

    fn pop(&mut self) -> Result<Node, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.invalid("the stack is empty".to_owned()));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.invalid("the stack is empty".to_owned()))
    }

    fn pop_mark(&mut self) -> Result<Vec<Node>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.invalid("no MARK on the stack".to_owned()))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn dup(&mut self) -> Result<(), PickleError> {
        let top = self.pop()?;
        let copy = match &top {
            Node::Val(v, meta) => {
                self.spend(meta.size)?;
                Node::Val(v.clone(), *meta)
            }
            Node::Ref(key) => Node::Ref(*key),
            _ => return Err(self.invalid("DUP of an unmemoised container".to_owned())),
        };
        self.stack.push(top);
        self.push(copy)
    }

    // ----- scalars -----

    fn int(&mut self, op: u8) -> Result<(), PickleError> {
        let value = match op {
            b'J' => Value::Int(i64::from(i32::from_le_bytes(self.take_array("an int")?))),
            b'K' => Value::Int(i64::from(self.take_array::<1>("an int")?[0])),
            b'M' => Value::Int(i64::from(u16::from_le_bytes(self.take_array("an int")?))),
            0x8a | 0x8b => {
                let n = self.take_len(if op == 0x8a { 1 } else { 4 })?;
                long_value(self.take(n, "the int's bytes")?)
            }
            _ => self.text_int(op)?,
        };
        self.push(scalar(value))
    }

    /// Protocol 0 `INT` / `LONG`: decimal text (`I01`/`I00` are booleans).
    fn text_int(&mut self, op: u8) -> Result<Value, PickleError> {
        let line = self.take_line()?;
        match (op, line) {
            (b'I', "01") => return Ok(Value::Bool(true)),
            (b'I', "00") => return Ok(Value::Bool(false)),
            _ => {}
        }
        let digits = line.strip_suffix('L').unwrap_or(line);
        digits
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| self.invalid(format!("expected a decimal int, found {line:?}")))
    }

    fn float(&mut self, op: u8) -> Result<(), PickleError> {
        let value = if op == b'G' {
            f64::from_be_bytes(self.take_array("a float")?)
        } else {
            let line = self.take_line()?;
            line.parse::<f64>()
                .map_err(|_| self.invalid(format!("expected a float, found {line:?}")))?
        };
        self.push(scalar(Value::Float(value)))
    }

    fn unicode(&mut self, op: u8) -> Result<(), PickleError> {
        let width = match op {
            0x8c => 1,
            b'X' => 4,
            _ => 8,
        };
        let n = self.take_len(width)?;
        let raw = self.take(n, "the string's bytes")?;
        let text = std::str::from_utf8(raw)
            .map_err(|e| self.invalid(format!("string is not UTF-8 ({e})")))?;
        self.push(scalar(Value::Str(text.to_owned())))
    }

    fn bytes(&mut self, op: u8) -> Result<(), PickleError> {
        let width = match op {
            b'U' | b'C' => 1,
            b'T' | b'B' => 4,
            _ => 8,
        };
        let n = self.take_len(width)?;
        let raw = self.take(n, "the bytes")?;
        self.push(scalar(Value::Bytes(raw.to_vec())))
    }

    // ----- containers -----

    fn collect_mark(&mut self, make: fn(Vec<Node>, u32) -> Node) -> Result<(), PickleError> {
        let items = self.pop_mark()?;
        let depth = self.depth_of_all(&items)?;
        self.push(make(items, depth))
    }

    fn small_tuple(&mut self, n: usize) -> Result<(), PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err(self.invalid(format!("needs {n} items on the stack")));
        }
        let items = self.stack.split_off(self.stack.len() - n);
        let depth = self.depth_of_all(&items)?;
        self.push(Node::Tuple(items, depth))
    }

    fn dict_from_mark(&mut self) -> Result<(), PickleError> {
        let items = self.pop_mark()?;
        let depth = self.depth_of_all(&items)?;
        let pairs = into_pairs(items)
            .ok_or_else(|| self.invalid("odd number of key/value items".to_owned()))?;
        self.push(Node::Dict(pairs, depth))
    }

    fn append(&mut self) -> Result<(), PickleError> {
        let item = self.pop()?;
        self.extend_top(vec![item])
    }

    fn appends(&mut self) -> Result<(), PickleError> {
        let items = self.pop_mark()?;
        self.extend_top(items)
    }

    fn setitem(&mut self) -> Result<(), PickleError> {
        let value = self.pop()?;
        let key = self.pop()?;
        self.extend_top(vec![key, value])
    }

    fn setitems(&mut self) -> Result<(), PickleError> {
        let items = self.pop_mark()?;
        self.extend_top(items)
    }

    fn additems(&mut self) -> Result<(), PickleError> {
        let items = self.pop_mark()?;
        self.extend_top(items)
    }

    /// Adds `items` to the container on top of the stack (following memo references): a
    /// list takes them as items (`APPEND(S)`), a dict as key/value pairs (`SETITEM(S)`), a
    /// set as members (`ADDITEMS`).
    fn extend_top(&mut self, items: Vec<Node>) -> Result<(), PickleError> {
        let depth = self.depth_of_all(&items)?;
        let (offset, opcode) = (self.op_start, self.op_name);
        let invalid = |message: String| PickleError::Invalid {
            offset,
            opcode,
            message,
        };
        let target = self.top_target()?;
        match (target, opcode) {
            (Node::Dict(existing, d), "SETITEM" | "SETITEMS") => {
                let pairs = into_pairs(items)
                    .ok_or_else(|| invalid("odd number of key/value items".to_owned()))?;
                existing.extend(pairs);
                *d = (*d).max(depth);
            }
            (Node::List(existing, d), "APPEND" | "APPENDS")
            | (Node::Set(existing, d), "ADDITEMS") => {
                existing.extend(items);
                *d = (*d).max(depth);
            }
            (other, _) => {
                return Err(invalid(format!(
                    "cannot add items to a {}",
                    node_kind(other)
                )))
            }
        }
        Ok(())
    }

    /// The node on top of the stack, or the memo entry it refers to.
    fn top_target(&mut self) -> Result<&mut Node, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.invalid("no target object on the stack".to_owned()));
        }
        let (offset, opcode) = (self.op_start, self.op_name);
        let empty = || PickleError::Invalid {
            offset,
            opcode,
            message: "the stack is empty".to_owned(),
        };
        let key = match self.stack.last() {
            Some(Node::Ref(key)) => *key,
            _ => return self.stack.last_mut().ok_or_else(empty),
        };
        let key = self.chase(key)?;
        self.memo.get_mut(&key).ok_or(PickleError::Invalid {
            offset,
            opcode,
            message: format!("memo key {key} is not defined"),
        })
    }

    /// Follows memo aliases (an entry that refers to another entry) to a real entry.
    fn chase(&self, mut key: u32) -> Result<u32, PickleError> {
        for _ in 0..=self.memo.len() {
            match self.memo.get(&key) {
                Some(Node::Ref(next)) => key = *next,
                Some(_) => return Ok(key),
                None => return Err(self.invalid(format!("memo key {key} is not defined"))),
            }
        }
        Err(self.invalid(format!("memo key {key} refers to itself")))
    }

    /// Depth of a container holding `items`; errors past [`MAX_DEPTH`].
    fn depth_of_all(&self, items: &[Node]) -> Result<u32, PickleError> {
        let depth = 1 + items.iter().map(node_depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(self.invalid(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(depth)
    }

    // ----- memo -----

    fn put(&mut self, op: u8) -> Result<(), PickleError> {
        let key = match op {
            b'p' => {
                let line = self.take_line()?;
                line.parse::<u32>()
                    .map_err(|_| self.invalid(format!("expected a memo key, found {line:?}")))?
            }
            b'q' => u32::from(self.take_array::<1>("a memo key")?[0]),
            b'r' => u32::from_le_bytes(self.take_array("a memo key")?),
            _ => u32::try_from(self.memo.len())
                .map_err(|_| self.invalid("memo is full".to_owned()))?,
        };
        let top = self.pop()?;
        let node = match top {
            Node::Ref(other) => {
                let target = self.chase(other)?;
                if target != key {
                    self.memo.insert(key, Node::Ref(target));
                }
                Node::Ref(target)
            }
            value => {
                self.memo.insert(key, value);
                Node::Ref(key)
            }
        };
        self.push(node)
    }

    fn get(&mut self, op: u8) -> Result<(), PickleError> {
        let key = match op {
            b'g' => {
                let line = self.take_line()?;
                line.parse::<u32>()
                    .map_err(|_| self.invalid(format!("expected a memo key, found {line:?}")))?
            }
            b'h' => u32::from(self.take_array::<1>("a memo key")?[0]),
            _ => u32::from_le_bytes(self.take_array("a memo key")?),
        };
        if !self.memo.contains_key(&key) {
            return Err(self.invalid(format!("memo key {key} is not defined")));
        }
        self.push(Node::Ref(key))
    }

    // ----- objects -----

    fn global(&mut self) -> Result<(), PickleError> {
        let module = self.take_line()?.to_owned();
        let name = self.take_line()?.to_owned();
        self.push(scalar(Value::Global { module, name }))
    }

    fn stack_global(&mut self) -> Result<(), PickleError> {
        let name = self.pop()?;
        let module = self.pop()?;
        let module = self.string_of(&module)?;
        let name = self.string_of(&name)?;
        self.push(scalar(Value::Global { module, name }))
    }

    fn persid(&mut self) -> Result<(), PickleError> {
        let pid = self.pop()?;
        let depth = self.depth_of_all(std::slice::from_ref(&pid))?;
        self.push(Node::PersistentId(Box::new(pid), depth))
    }

    fn reduce(&mut self) -> Result<(), PickleError> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let (module, name) = self.global_of(&callable)?;
        let args = self.tuple_items(args)?;
        let node = self.call(module, name, args, Vec::new())?;
        self.push(node)
    }

    fn newobj(&mut self, with_kwargs: bool) -> Result<(), PickleError> {
        let kwargs = if with_kwargs {
            let node = self.pop()?;
            match self.to_value(&node)?.0 {
                Value::Dict(pairs) => pairs
                    .into_iter()
                    .map(|(k, v)| (value_node(k), value_node(v)))
                    .collect(),
                other => {
                    return Err(self.invalid(format!(
                        "expected keyword arguments (a dict), found {}",
                        other.type_name()
                    )))
                }
            }
        } else {
            Vec::new()
        };
        let args = self.pop()?;
        let class = self.pop()?;
        let (module, name) = self.global_of(&class)?;
        let args = self.tuple_items(args)?;
        let node = self.call(module, name, args, kwargs)?;
        self.push(node)
    }

    /// What calling `module.name(*args, **kwargs)` gives, for the few callables the reader
    /// interprets; anything else becomes an [`PyObject`].
    fn call(
        &self,
        module: String,
        name: String,
        args: Vec<Node>,
        kwargs: Vec<(Node, Node)>,
    ) -> Result<Node, PickleError> {
        match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") | ("builtins" | "__builtin__", "dict") => {
                self.dict_call(args)
            }
            ("builtins" | "__builtin__", "set" | "frozenset") => self.set_call(args),
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
                let values = self.values_of(&args)?;
                let tensor = tensor_ref_from_args(&values)
                    .map_err(|e| self.invalid(format!("{module}.{name}: {e}")))?;
                Ok(scalar(Value::Tensor(tensor)))
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => args
                .into_iter()
                .next()
                .ok_or_else(|| self.invalid(format!("{name} without arguments"))),
            ("_codecs", "encode") => self.encode_call(args),
            _ => {
                let depth = self.depth_of_all(&args)?;
                let object = ObjectNode {
                    module,
                    name,
                    args,
                    kwargs,
                    state: None,
                };
                Ok(Node::Object(Box::new(object), depth))
            }
        }
    }

    /// `OrderedDict()` / `OrderedDict(pairs)` / `dict(mapping)`.
    fn dict_call(&self, args: Vec<Node>) -> Result<Node, PickleError> {
        let Some(first) = args.first() else {
            return Ok(Node::Dict(Vec::new(), 1));
        };
        let pairs = match self.to_value(first)?.0 {
            Value::Dict(pairs) => pairs,
            Value::List(items) | Value::Tuple(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::List(kv) | Value::Tuple(kv) if kv.len() == 2 => {
                        let mut kv = kv.into_iter();
                        Some((kv.next()?, kv.next()?))
                    }
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.invalid("dict items must be pairs".to_owned()))?,
            other => {
                return Err(
                    self.invalid(format!("cannot build a dict from a {}", other.type_name()))
                )
            }
        };
        let nodes: Vec<(Node, Node)> = pairs
            .into_iter()
            .map(|(k, v)| (value_node(k), value_node(v)))
            .collect();
        let depth = 1 + nodes
            .iter()
            .map(|(k, v)| node_depth(k).max(node_depth(v)))
            .max()
            .unwrap_or(0);
        Ok(Node::Dict(nodes, depth))
    }

    /// `set(iterable)` / `frozenset(iterable)`.
    fn set_call(&self, args: Vec<Node>) -> Result<Node, PickleError> {
        let items = match args.first() {
            None => Vec::new(),
            Some(first) => match self.to_value(first)?.0 {
                Value::List(items) | Value::Tuple(items) | Value::Set(items) => items,
                other => {
                    return Err(
                        self.invalid(format!("cannot build a set from a {}", other.type_name()))
                    )
                }
            },
        };
        let nodes: Vec<Node> = items.into_iter().map(value_node).collect();
        let depth = self.depth_of_all(&nodes)?;
        Ok(Node::Set(nodes, depth))
    }

    /// `_codecs.encode(text, encoding)`: how protocol 2 pickles Python 3 `bytes`.
    fn encode_call(&self, args: Vec<Node>) -> Result<Node, PickleError> {
        let values = self.values_of(&args)?;
        let text = values.first().and_then(Value::as_str);
        let encoding = values.get(1).and_then(Value::as_str).unwrap_or("utf-8");
        let bytes = match (text, encoding.to_ascii_lowercase().as_str()) {
            (Some(text), "latin1" | "latin-1" | "iso-8859-1") => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>(),
            (Some(text), "utf-8" | "utf8") => Some(text.as_bytes().to_vec()),
            _ => None,
        };
        bytes
            .map(|b| scalar(Value::Bytes(b)))
            .ok_or_else(|| self.invalid(format!("cannot encode {text:?} as {encoding}")))
    }

    fn build(&mut self) -> Result<(), PickleError> {
        let state = self.pop()?;
        let depth = self.depth_of_all(std::slice::from_ref(&state))?;
        let (offset, opcode) = (self.op_start, self.op_name);
        match self.top_target()? {
            Node::Object(object, d) => {
                object.state = Some(state);
                *d = (*d).max(depth);
                Ok(())
            }
            // An OrderedDict's instance attributes (torch's `_metadata`) and a tensor's
            // Python-side state carry nothing this reader needs.
            Node::Dict(..) | Node::Val(Value::Tensor(_), _) => Ok(()),
            other => Err(PickleError::Invalid {
                offset,
                opcode,
                message: format!("cannot set the state of a {}", node_kind(other)),
            }),
        }
    }

    // ----- conversions -----

    /// The `(module, name)` of a node that must be a global.
    fn global_of(&self, node: &Node) -> Result<(String, String), PickleError> {
        match self.to_value(node)?.0 {
            Value::Global { module, name } => Ok((module, name)),
            other => Err(self.invalid(format!(
                "expected a class or function, found {}",
                other.type_name()
            ))),
        }
    }

    fn string_of(&self, node: &Node) -> Result<String, PickleError> {
        match self.to_value(node)?.0 {
            Value::Str(s) => Ok(s),
            other => Err(self.invalid(format!("expected a str, found {}", other.type_name()))),
        }
    }

    /// The items of an argument tuple.
    fn tuple_items(&self, node: Node) -> Result<Vec<Node>, PickleError> {
        match node {
            Node::Tuple(items, _) => Ok(items),
            other => match self.to_value(&other)?.0 {
                Value::Tuple(items) => Ok(items.into_iter().map(value_node).collect()),
                value => Err(self.invalid(format!(
                    "expected an argument tuple, found {}",
                    value.type_name()
                ))),
            },
        }
    }

    fn values_of(&self, nodes: &[Node]) -> Result<Vec<Value>, PickleError> {
        nodes
            .iter()
            .map(|n| self.to_value(n).map(|(v, _)| v))
            .collect()
    }

    /// Copies `node` out as a value, drawing on the machine's budget.
    fn to_value(&self, node: &Node) -> Result<(Value, Meta), PickleError> {
        let mut resolver = Resolver {
            memo: &self.memo,
            active: Vec::new(),
            budget: self.budget.get(),
            limit: self.limit(),
            sizes: HashMap::new(),
        };
        let result = resolver
            .expanded_size(node, 0)
            .and_then(|_| resolver.value(node, 0))
            .map_err(|message| self.invalid(message));
        self.budget.set(resolver.budget);
        result
    }

    /// Takes `size` from the budget of values copied out.
    fn spend(&self, size: usize) -> Result<(), PickleError> {
        let left = self
            .budget
            .get()
            .checked_sub(size)
            .ok_or_else(|| self.invalid(expansion_message(self.limit())))?;
        self.budget.set(left);
        Ok(())
    }

    /// The whole budget of values copied out.
    fn limit(&self) -> usize {
        self.data.len().saturating_mul(MAX_EXPANSION)
    }

    fn resolve(&self, node: Node) -> Result<Value, PickleError> {
        self.to_value(&node).map(|(v, _)| v)
    }
}

/// The int stored by `LONG1`/`LONG4`: little-endian two's complement.
fn long_value(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        return Value::BigInt(bytes.to_vec());
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(buf))
}
