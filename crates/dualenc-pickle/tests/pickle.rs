//! The pickle virtual machine on pickles written by CPython 3.11 (hex below, produced with
//! `pickle.dumps(obj, protocol=P).hex()`) and on broken input.

use dualenc_pickle::{loads, PickleError, Value};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `{'a': shared, 'b': shared, 'big': 2**70, 'neg': -5, 'negbig': -(2**40), 'f': 1.5,
///   's': 'héllo', 'by': b'\x00\xff', 't': (1,), 'set': {3}, 'fs': frozenset([4]),
///   'none': None, 'tr': True}` with `shared = {'k': [1, 2]}`.
const MIXED_P2: &str = "80027d71002858010000006171017d710258010000006b71035d7104284b014b02657358010000006271056802580300000062696771068a0900000000000000004058030000006e656771074afbffffff58060000006e656762696771088a060000000000ff5801000000667109473ff8000000000000580100000073710a580600000068c3a96c6c6f710b58020000006279710c635f636f646563730a656e636f64650a710d580300000000c3bf710e58060000006c6174696e31710f86711052711158010000007471124b0185711358030000007365747114635f5f6275696c74696e5f5f0a7365740a71155d71164b0361857117527118580200000066737119635f5f6275696c74696e5f5f0a66726f7a656e7365740a711a5d711b4b046185711c52711d58040000006e6f6e65711e4e58020000007472711f88752e";
const MIXED_P5: &str = "8005959b000000000000007d94288c0161947d948c016b945d94284b014b0265738c01629468028c03626967948a090000000000000000408c036e6567944afbffffff8c066e6567626967948a060000000000ff8c016694473ff80000000000008c0173948c0668c3a96c6c6f948c02627994430200ff948c0174944b0185948c03736574948f94284b03908c02667394284b0491948c046e6f6e65944e8c0274729488752e";

fn check_mixed(v: &Value) {
    let shared = Value::Dict(vec![(
        Value::Str("k".into()),
        Value::List(vec![Value::Int(1), Value::Int(2)]),
    )]);
    // The memoised dict is filled after BINPUT; both references must see it filled.
    assert_eq!(v.get("a"), Some(&shared));
    assert_eq!(v.get("b"), Some(&shared));
    let mut big = vec![0u8; 9];
    big[8] = 0x40;
    assert_eq!(v.get("big"), Some(&Value::BigInt(big)));
    assert_eq!(v.get("neg").and_then(Value::as_i64), Some(-5));
    assert_eq!(v.get("negbig").and_then(Value::as_i64), Some(-(1i64 << 40)));
    assert_eq!(v.get("f").and_then(Value::as_f64), Some(1.5));
    assert_eq!(v.get("s").and_then(Value::as_str), Some("héllo"));
    assert_eq!(v.get("by"), Some(&Value::Bytes(vec![0, 0xff])));
    assert_eq!(v.get("t"), Some(&Value::Tuple(vec![Value::Int(1)])));
    assert_eq!(v.get("set"), Some(&Value::Set(vec![Value::Int(3)])));
    assert_eq!(v.get("fs"), Some(&Value::Set(vec![Value::Int(4)])));
    assert_eq!(v.get("none"), Some(&Value::None));
    assert_eq!(v.get("tr").and_then(Value::as_bool), Some(true));
}

#[test]
fn protocol_2_mixed_values() {
    check_mixed(&loads(&unhex(MIXED_P2)).unwrap());
}

#[test]
fn protocol_5_mixed_values() {
    check_mixed(&loads(&unhex(MIXED_P5)).unwrap());
}

#[test]
fn ordered_dict_becomes_dict() {
    let v = loads(&unhex("800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858010000007871024b0158010000007971034b02752e")).unwrap();
    let keys: Vec<_> = v
        .as_dict()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["x", "y"]);
}

#[test]
fn namespace_keeps_its_state() {
    for hex in [
        "80026361726770617273650a4e616d6573706163650a7100298171017d7102285805000000616c70686171034b015804000000626574617104580100000062710575622e",
        "80059537000000000000008c086172677061727365948c094e616d6573706163659493942981947d94288c05616c706861944b018c0462657461948c01629475622e",
    ] {
        let v = loads(&unhex(hex)).unwrap();
        let Value::Object(obj) = &v else { panic!("expected an object, got {v:?}") };
        assert_eq!((obj.module.as_str(), obj.name.as_str()), ("argparse", "Namespace"));
        assert_eq!(v.get("alpha").and_then(Value::as_i64), Some(1));
        assert_eq!(v.get("beta").and_then(Value::as_str), Some("b"));
        assert_eq!(v.to_json(), serde_json::json!({"alpha": 1, "beta": "b"}));
    }
}

#[test]
fn self_containing_list_is_an_error() {
    // l = []; l.append(l)
    let err = loads(&unhex("80025d71006800612e")).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
}

#[test]
fn unknown_opcode_names_its_offset() {
    let err = loads(&[0x80, 0x02, 0xff]).unwrap_err();
    assert!(
        matches!(
            err,
            PickleError::UnknownOpcode {
                offset: 2,
                opcode: 0xff
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("byte 2"));
}

#[test]
fn every_truncation_is_an_error() {
    let full = unhex(MIXED_P2);
    for cut in 0..full.len() {
        let err = loads(&full[..cut]).expect_err("a cut pickle must not load");
        // The reported offset lies inside the given bytes (or at their end).
        let offset = match err {
            PickleError::Truncated { offset, .. }
            | PickleError::UnknownOpcode { offset, .. }
            | PickleError::Unsupported { offset, .. }
            | PickleError::Invalid { offset, .. } => offset,
        };
        assert!(offset <= cut, "cut {cut}: offset {offset}");
    }
}

#[test]
fn garbage_and_bad_stacks_are_errors() {
    assert!(loads(b"").is_err());
    assert!(loads(b"hello world").is_err());
    // STOP with an empty stack, APPEND to an int, SETITEMS without MARK, unknown memo key.
    for bad in [&b"\x80\x02."[..], b"K\x01K\x02a.", b"}K\x01u.", b"h\x07."] {
        assert!(loads(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    // 100_000 nested lists: EMPTY_LIST repeated, then APPEND each into the one below.
    let depth = 100_000;
    let mut bytes = vec![0x80, 0x02];
    bytes.extend(std::iter::repeat_n(b']', depth));
    bytes.extend(std::iter::repeat_n(b'a', depth - 1));
    bytes.push(b'.');
    let err = loads(&bytes).unwrap_err();
    assert!(err.to_string().contains("deeper"), "{err}");
}

#[test]
fn exponential_sharing_is_refused() {
    // x = [x_prev, x_prev] forty times over memo references: 2^40 items when expanded.
    let mut bytes = vec![0x80, 0x02, b']', b'q', 0];
    for i in 1..=40u8 {
        bytes.extend([b'(', b'h', i - 1, b'h', i - 1, b'l', b'q', i]);
    }
    bytes.push(b'.');
    let err = loads(&bytes).unwrap_err();
    assert!(err.to_string().contains("more than"), "{err}");
}
