//! Values under construction by the pickle machine, and their resolution into [`Value`]s.
//!
//! Containers hold [`Node`]s; an object that was memoised is held once, in the memo, and
//! referred to by [`Node::Ref`], so that filling it later is seen through every reference
//! (as Python's shared objects are). Every container records its direct nesting depth and
//! every finished value its size, so that hostile input is refused before it can overflow
//! the stack or expand exponentially.

use crate::unpickle::{MAX_DEPTH, MAX_EXPANSION};
use crate::value::{PyObject, Value};
use std::collections::HashMap;

/// A value under construction: containers hold nodes, shared objects are memo references.
#[derive(Debug)]
pub(crate) enum Node {
    /// A finished value, with its size and depth.
    Val(Value, Meta),
    /// The memo entry with this key.
    Ref(u32),
    List(Vec<Node>, u32),
    Tuple(Vec<Node>, u32),
    Dict(Vec<(Node, Node)>, u32),
    Set(Vec<Node>, u32),
    Object(Box<ObjectNode>, u32),
    PersistentId(Box<Node>, u32),
}

#[derive(Debug)]
pub(crate) struct ObjectNode {
    pub(crate) module: String,
    pub(crate) name: String,
    pub(crate) args: Vec<Node>,
    pub(crate) kwargs: Vec<(Node, Node)>,
    pub(crate) state: Option<Node>,
}

/// Size (what copying it costs, see [`MAX_EXPANSION`]) and nesting depth of a finished
/// value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) size: usize,
    pub(crate) depth: u32,
}

pub(crate) fn scalar(value: Value) -> Node {
    let meta = leaf_meta(&value);
    Node::Val(value, meta)
}

/// Meta of a value without children: 1 plus the length of what it holds on the heap.
fn leaf_meta(value: &Value) -> Meta {
    let payload = match value {
        Value::Str(s) => s.len(),
        Value::Bytes(b) | Value::BigInt(b) => b.len(),
        Value::Global { module, name } => module.len().saturating_add(name.len()),
        Value::Tensor(t) => [
            t.storage.key.len(),
            t.storage.location.len(),
            t.size.len(),
            t.stride.len(),
        ]
        .iter()
        .fold(0usize, |acc, &n| acc.saturating_add(n)),
        _ => 0,
    };
    Meta {
        size: payload.saturating_add(1),
        depth: 0,
    }
}

/// The error of a value that copies out more than `limit`.
pub(crate) fn expansion_message(limit: usize) -> String {
    format!(
        "value expands to more than {limit} values and bytes ({MAX_EXPANSION} times the \
         pickle's length, shared references copied out)"
    )
}

/// Turns nodes (with memo references) into values.
pub(crate) struct Resolver<'m> {
    pub(crate) memo: &'m HashMap<u32, Node>,
    /// Memo keys being resolved (a repeat is a cycle).
    pub(crate) active: Vec<u32>,
    /// What may still be copied out before the result counts as too large.
    pub(crate) budget: usize,
    /// The whole budget, for messages.
    pub(crate) limit: usize,
    /// Expanded sizes of memo entries, computed once each.
    pub(crate) sizes: HashMap<u32, usize>,
}

impl Resolver<'_> {
    /// What copying `node` out costs, refusing more than the budget before any copying
    /// happens (shared references can make that exponential in the input size).
    pub(crate) fn expanded_size(&mut self, node: &Node, level: u32) -> Result<usize, String> {
        if level > MAX_DEPTH {
            return Err(format!("value nested deeper than {MAX_DEPTH} levels"));
        }
        let children: Vec<&Node> = match node {
            Node::Val(_, meta) => return Ok(meta.size),
            Node::Ref(key) => return self.memo_size(*key, level),
            Node::List(items, _) | Node::Tuple(items, _) | Node::Set(items, _) => {
                items.iter().collect()
            }
            Node::Dict(pairs, _) => pairs.iter().flat_map(|(k, v)| [k, v]).collect(),
            Node::Object(object, _) => object
                .args
                .iter()
                .chain(object.kwargs.iter().flat_map(|(k, v)| [k, v]))
                .chain(object.state.iter())
                .collect(),
            Node::PersistentId(inner, _) => vec![inner.as_ref()],
        };
        let mut total = 1usize;
        for child in children {
            total = total.saturating_add(self.expanded_size(child, level + 1)?);
            if total > self.budget {
                return Err(expansion_message(self.limit));
            }
        }
        Ok(total)
    }

    fn memo_size(&mut self, key: u32, level: u32) -> Result<usize, String> {
        if let Some(size) = self.sizes.get(&key) {
            return Ok(*size);
        }
        if self.active.contains(&key) {
            return Err(format!("memo entry {key} contains itself (a cycle)"));
        }
        let node = self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo key {key} is not defined"))?;
        self.active.push(key);
        let size = self.expanded_size(node, level);
        self.active.pop();
        let size = size?;
        self.sizes.insert(key, size);
        Ok(size)
    }

    pub(crate) fn value(&mut self, node: &Node, level: u32) -> Result<(Value, Meta), String> {
        if level > MAX_DEPTH {
            return Err(format!("value nested deeper than {MAX_DEPTH} levels"));
        }
        match node {
            Node::Val(value, meta) => {
                self.spend(meta.size)?;
                if level + meta.depth > MAX_DEPTH {
                    return Err(format!("value nested deeper than {MAX_DEPTH} levels"));
                }
                Ok((value.clone(), *meta))
            }
            Node::Ref(key) => self.memo_value(*key, level),
            Node::List(items, _) => self.seq(items, level).map(|(v, m)| (Value::List(v), m)),
            Node::Tuple(items, _) => self.seq(items, level).map(|(v, m)| (Value::Tuple(v), m)),
            Node::Set(items, _) => self.seq(items, level).map(|(v, m)| (Value::Set(v), m)),
            Node::Dict(pairs, _) => self.dict(pairs, level),
            Node::Object(object, _) => self.object(object, level),
            Node::PersistentId(inner, _) => {
                let (value, meta) = self.value(inner, level + 1)?;
                Ok((Value::PersistentId(Box::new(value)), grow(meta)))
            }
        }
    }

    fn spend(&mut self, size: usize) -> Result<(), String> {
        self.budget = self
            .budget
            .checked_sub(size)
            .ok_or_else(|| expansion_message(self.limit))?;
        Ok(())
    }

    fn memo_value(&mut self, key: u32, level: u32) -> Result<(Value, Meta), String> {
        if self.active.contains(&key) {
            return Err(format!("memo entry {key} contains itself (a cycle)"));
        }
        let node = self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo key {key} is not defined"))?;
        self.active.push(key);
        let result = self.value(node, level);
        self.active.pop();
        result
    }

    fn seq(&mut self, items: &[Node], level: u32) -> Result<(Vec<Value>, Meta), String> {
        self.spend(1)?;
        let mut meta = Meta { size: 1, depth: 0 };
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            let (value, m) = self.value(item, level + 1)?;
            meta = merge(meta, m);
            values.push(value);
        }
        Ok((values, meta))
    }

    fn dict(&mut self, pairs: &[(Node, Node)], level: u32) -> Result<(Value, Meta), String> {
        self.spend(1)?;
        let mut meta = Meta { size: 1, depth: 0 };
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let (key, mk) = self.value(k, level + 1)?;
            let (value, mv) = self.value(v, level + 1)?;
            meta = merge(merge(meta, mk), mv);
            out.push((key, value));
        }
        Ok((Value::Dict(out), meta))
    }

    fn object(&mut self, object: &ObjectNode, level: u32) -> Result<(Value, Meta), String> {
        let (args, mut meta) = self.seq(&object.args, level)?;
        let mut kwargs = Vec::with_capacity(object.kwargs.len());
        for (k, v) in &object.kwargs {
            let (key, mk) = self.value(k, level + 1)?;
            let (value, mv) = self.value(v, level + 1)?;
            meta = merge(merge(meta, mk), mv);
            kwargs.push((key, value));
        }
        let state = match &object.state {
            Some(node) => {
                let (value, m) = self.value(node, level + 1)?;
                meta = merge(meta, m);
                Some(value)
            }
            None => None,
        };
        let value = Value::Object(Box::new(PyObject {
            module: object.module.clone(),
            name: object.name.clone(),
            args,
            kwargs,
            state,
        }));
        Ok((value, meta))
    }
}

/// Meta of a container after adding a child with meta `child`.
fn merge(parent: Meta, child: Meta) -> Meta {
    Meta {
        size: parent.size.saturating_add(child.size),
        depth: parent.depth.max(child.depth + 1),
    }
}

fn grow(meta: Meta) -> Meta {
    Meta {
        size: meta.size.saturating_add(1),
        depth: meta.depth + 1,
    }
}

/// Wraps a finished value as a node, measuring it.
pub(crate) fn value_node(value: Value) -> Node {
    let meta = measure(&value);
    Node::Val(value, meta)
}

fn measure(value: &Value) -> Meta {
    let leaf = leaf_meta(value);
    match value {
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            items.iter().map(measure).fold(leaf, merge)
        }
        Value::Dict(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| [measure(k), measure(v)])
            .fold(leaf, merge),
        Value::PersistentId(inner) => grow(measure(inner)),
        Value::Object(object) => object
            .args
            .iter()
            .chain(object.state.iter())
            .map(measure)
            .fold(leaf, merge),
        _ => leaf,
    }
}

/// Direct nesting depth of a node (memo references count as leaves).
pub(crate) fn node_depth(node: &Node) -> u32 {
    match node {
        Node::Val(_, meta) => meta.depth,
        Node::Ref(_) => 0,
        Node::List(_, d)
        | Node::Tuple(_, d)
        | Node::Dict(_, d)
        | Node::Set(_, d)
        | Node::Object(_, d)
        | Node::PersistentId(_, d) => *d,
    }
}

pub(crate) fn node_kind(node: &Node) -> &'static str {
    match node {
        Node::Val(value, _) => value.type_name(),
        Node::Ref(_) => "memo reference",
        Node::List(..) => "list",
        Node::Tuple(..) => "tuple",
        Node::Dict(..) => "dict",
        Node::Set(..) => "set",
        Node::Object(..) => "object",
        Node::PersistentId(..) => "persistent id",
    }
}

pub(crate) fn into_pairs(items: Vec<Node>) -> Option<Vec<(Node, Node)>> {
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut iter = items.into_iter();
    while let Some(key) = iter.next() {
        pairs.push((key, iter.next()?));
    }
    Some(pairs)
}
