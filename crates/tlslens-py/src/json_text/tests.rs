use std::cell::RefCell;

use serde::Serialize;
use serde_json::json;

use super::{plain, python_char, LineSerializer};

fn python_text(value: &impl Serialize) -> String {
    let pending = RefCell::new(Vec::new());
    let mut out = Vec::new();
    assert!(value
        .serialize(&mut LineSerializer::new(&mut out, &pending))
        .is_ok());
    String::from_utf8(out).unwrap_or_default()
}

#[test]
fn plain_text_is_told_at_every_position() {
    assert!(plain(b""));
    assert!(plain(b" ~ plain text, longer than a word ~ "));
    for len in 1..20 {
        for at in 0..len {
            for bad in [0x00_u8, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xc3, 0xff] {
                let mut text = vec![b'~'; len];
                if let Some(byte) = text.get_mut(at) {
                    *byte = bad;
                }
                assert!(!plain(&text), "{len} {at} {bad}");
            }
            // Their neighbours are plain.
            for good in [0x20_u8, b'!', b'#', b'[', b']', 0x7e] {
                let mut text = vec![b'~'; len];
                if let Some(byte) = text.get_mut(at) {
                    *byte = good;
                }
                assert!(plain(&text), "{len} {at} {good}");
            }
        }
    }
}

#[test]
fn separators_are_pythons() {
    let value = json!({"a": [1, -2, {"b": null}], "c": true, "d": {}, "e": []});
    // serde_json's map keeps keys sorted without preserve_order: the walk keeps dict order.
    assert_eq!(
        python_text(&value),
        r#"{"a": [1, -2, {"b": null}], "c": true, "d": {}, "e": []}"#
    );
    assert_eq!(
        python_text(&(u64::MAX, i64::MIN)),
        "[18446744073709551615, -9223372036854775808]"
    );
}

#[test]
fn strings_are_escaped_as_ensure_ascii_does() {
    let text = "q\" b\\ / \u{8}\u{c}\n\r\t \u{0}\u{1f} \u{7f} é \u{2028} \u{1f600}";
    let expected = r#""q\" b\\ / \b\f\n\r\t \u0000\u001f \u007f \u00e9 \u2028 \ud83d\ude00""#;
    assert_eq!(python_text(&text), expected);
    assert_eq!(python_text(&"plain ~ text"), r#""plain ~ text""#);
    assert_eq!(python_text(&"ünï"), r#""\u00fcn\u00ef""#);
    assert_eq!(
        python_text(&"a long line of plain text, then a quote\""),
        r#""a long line of plain text, then a quote\"""#
    );
}

#[test]
fn raw_text_is_written_untouched_and_pending_text_ends_a_string() {
    assert_eq!(python_text(&serde_bytes_like(b"1e-05")), "1e-05");
    let mut lone = Vec::new();
    python_char(&mut lone, 0xd800);
    assert_eq!(lone, br"\ud800");
    let pending = RefCell::new(br"\udc00x".to_vec());
    let mut out = Vec::new();
    assert!(""
        .serialize(&mut LineSerializer::new(&mut out, &pending))
        .is_ok());
    assert_eq!(out, br#""\udc00x""#);
    assert!(pending.borrow().is_empty());
}

#[test]
fn a_key_that_is_no_str_is_an_error() {
    let pending = RefCell::new(Vec::new());
    let mut out = Vec::new();
    let mut map = std::collections::BTreeMap::new();
    map.insert(1, 2);
    assert!(map
        .serialize(&mut LineSerializer::new(&mut out, &pending))
        .is_err());
}

#[test]
fn variants_are_written_as_serde_json_writes_them() {
    use serde::ser::{SerializeStructVariant, SerializeTupleVariant, Serializer};
    struct Variants;
    impl Serialize for Variants {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = s.serialize_seq(Some(4))?;
            seq.serialize_element(&Unit)?;
            seq.serialize_element(&Newtype)?;
            seq.serialize_element(&Tuple)?;
            seq.serialize_element(&Struct)?;
            seq.end()
        }
    }
    struct Unit;
    impl Serialize for Unit {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_unit_variant("E", 0, "u")
        }
    }
    struct Newtype;
    impl Serialize for Newtype {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_newtype_variant("E", 1, "n", &1u8)
        }
    }
    struct Tuple;
    impl Serialize for Tuple {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_tuple_variant("E", 2, "t", 2)?;
            t.serialize_field(&1u8)?;
            t.serialize_field(&"x")?;
            t.end()
        }
    }
    struct Struct;
    impl Serialize for Struct {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_struct_variant("E", 3, "s", 1)?;
            t.serialize_field("a", &true)?;
            t.end()
        }
    }
    assert_eq!(
        python_text(&Variants),
        r#"["u", {"n": 1}, {"t": [1, "x"]}, {"s": {"a": true}}]"#
    );
    let compact = serde_json::to_string(&Variants).unwrap_or_default();
    assert_eq!(compact, r#"["u",{"n":1},{"t":[1,"x"]},{"s":{"a":true}}]"#);
}

/// Bytes the way the walk hands raw text to the serializer.
fn serde_bytes_like(text: &'static [u8]) -> impl Serialize {
    struct Raw(&'static [u8]);
    impl Serialize for Raw {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    Raw(text)
}
