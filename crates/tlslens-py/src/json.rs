//! `tlslens._core.json_line`: the JSON text of a Python value, byte for byte as
//! `json.JSONEncoder(check_circular=False).encode` writes it (the lines of `show --json`).
//!
//! Strategy: `Node`, a `serde::Serialize` view of the Python object tree, drives
//! `serde_json::Serializer` with `PythonFormatter`, which writes Python's separators
//! (", " and ": ") and its `ensure_ascii` escapes. Two things serde's data model cannot
//! carry reach the formatter another way:
//! - text written as is (the decimal of an int beyond 64 bits, a float as Python's repr,
//!   NaN and Infinity, which serde_json would write as null) goes through `serialize_bytes`,
//!   whose `write_byte_array` the formatter writes untouched: a row never holds bytes, the
//!   walk refuses them as json does, so nothing else comes that way;
//! - a str that is not UTF-8 (a lone surrogate, which Python strs may hold) is escaped here
//!   from its UTF-16 code units, left in `pending` and written by `end_string` of an empty
//!   str, so that it works as a dict key as well as a value.
//!
//! The walk holds the GIL (it reads Python objects) and is bounded by `MAX_DEPTH`: a deeper
//! value raises ValueError instead of overflowing the stack.

use std::cell::RefCell;
use std::io;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{Error as _, SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// Containers nested deeper than this raise ValueError (a row nests fewer than ten).
pub const MAX_DEPTH: usize = 256;

/// What the walk and the formatter share, and the first Python error the walk met.
#[derive(Default)]
pub(crate) struct Shared {
    /// A non-UTF-8 str's escaped text, for the `end_string` of the empty str standing in.
    pending: RefCell<Vec<u8>>,
    error: RefCell<Option<PyErr>>,
    /// A Python value a writer hands to a serializer that takes objects as they are (the
    /// row's dict, `row/objects.rs`); the text serializer leaves it.
    handoff: RefCell<Option<PyObject>>,
    /// The serializer takes the values handed over: without it (the text), none is kept.
    hands_off: bool,
}

impl Shared {
    /// What a serializer that takes the handed values (`row/objects.rs`) shares.
    pub(crate) fn handing_off() -> Self {
        Self {
            hands_off: true,
            ..Self::default()
        }
    }

    pub(crate) fn hand(&self, value: &Bound<'_, PyAny>) {
        if self.hands_off {
            *self.handoff.borrow_mut() = Some(value.clone().unbind());
        }
    }

    pub(crate) fn take_handoff(&self) -> Option<PyObject> {
        self.handoff.borrow_mut().take()
    }

    /// Whether the serializer takes the values handed over (objects, not text).
    pub(crate) fn hands_off(&self) -> bool {
        self.hands_off
    }

    /// Keep `err` (the first one) for the caller, and stop the serializer.
    pub(crate) fn fail<E: serde::ser::Error>(&self, err: PyErr) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(err);
        }
        E::custom("a Python error")
    }
}

/// serde_json's compact output with the separators and escapes of Python's json.
pub struct PythonFormatter<'a> {
    pending: &'a RefCell<Vec<u8>>,
}

impl Formatter for PythonFormatter<'_> {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        item_separator(w, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        item_separator(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let mut pending = self.pending.borrow_mut();
        if !pending.is_empty() {
            w.write_all(&std::mem::take(&mut *pending))?;
        }
        w.write_all(b"\"")
    }

    /// serde_json escapes `"`, `\` and the controls below 0x20 itself; the rest of what
    /// Python escapes (DEL and every non-ASCII character) arrives in the fragments.
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if printable_ascii(fragment.as_bytes()) {
            return w.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(at) = rest.bytes().position(|b| !(0x20..0x7f).contains(&b)) {
            let (plain, tail) = rest.split_at(at);
            w.write_all(plain.as_bytes())?;
            let mut chars = tail.chars();
            if let Some(c) = chars.next() {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write_python_char(w, *unit)?;
                }
            }
            rest = chars.as_str();
        }
        w.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let unit = match escape {
            CharEscape::Quote => b'"',
            CharEscape::ReverseSolidus => b'\\',
            CharEscape::Solidus => b'/',
            CharEscape::Backspace => 0x08,
            CharEscape::FormFeed => 0x0c,
            CharEscape::LineFeed => b'\n',
            CharEscape::CarriageReturn => b'\r',
            CharEscape::Tab => b'\t',
            CharEscape::AsciiControl(byte) => byte,
        };
        write_python_char(w, u16::from(unit))
    }

    fn write_byte_array<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        text: &[u8],
    ) -> io::Result<()> {
        w.write_all(text)
    }
}

/// No byte from DEL (0x7f) up: most text, which is then written as it is. Eight bytes at a
/// time (a byte-wise scan was the writer's costliest loop; serde_json escaped the controls
/// below 0x20 already): a byte below 0x7f plus one stays
/// below 0x80 without a carry, so a high bit shows a byte from 0x7f up.
fn printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut high = 0;
    for chunk in &mut chunks {
        // Always 8 bytes; all high bits (not printable) if it somehow were not.
        let word = <[u8; 8]>::try_from(chunk).map_or(HIGH, u64::from_ne_bytes);
        high |= (word | word.wrapping_add(ONES)) & HIGH;
    }
    high == 0 && chunks.remainder().iter().all(|b| *b < 0x7f)
}

/// json's item separator ", " (serde_json's compact one is ","), before all but the first.
fn item_separator<W: ?Sized + io::Write>(w: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        w.write_all(b", ")
    }
}

/// One UTF-16 code unit as Python's `ensure_ascii` writes it (`ascii_escape_unichar`).
fn write_python_char<W: ?Sized + io::Write>(w: &mut W, unit: u16) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let named: &[u8] = match unit {
        0x22 => b"\\\"",
        0x5c => b"\\\\",
        0x08 => b"\\b",
        0x0c => b"\\f",
        0x0a => b"\\n",
        0x0d => b"\\r",
        0x09 => b"\\t",
        _ => b"",
    };
    if !named.is_empty() {
        return w.write_all(named);
    }
    if let Ok(byte @ 0x20..=0x7e) = u8::try_from(unit) {
        return w.write_all(&[byte]);
    }
    let [high, low] = unit.to_be_bytes();
    let nibble = |byte: u8, shift: u8| HEX.get(usize::from((byte >> shift) & 0xf)).copied();
    let digits = [
        nibble(high, 4),
        nibble(high, 0),
        nibble(low, 4),
        nibble(low, 0),
    ];
    w.write_all(b"\\u")?;
    for digit in digits.into_iter().flatten() {
        w.write_all(&[digit])?;
    }
    Ok(())
}

/// A str's escaped text from its UTF-16 code units: the way for one holding lone surrogates.
fn escaped_utf16(text: &Bound<'_, PyString>) -> PyResult<Vec<u8>> {
    let py = text.py();
    // str.encode, not a subclass's own encode (json reads a str subclass's characters).
    let encode = py.get_type::<PyString>().getattr(intern!(py, "encode"))?;
    let encoded = encode.call1((text, "utf-16-le", "surrogatepass"))?;
    let bytes = encoded.downcast_into::<PyBytes>()?;
    let mut out = Vec::new();
    for pair in bytes.as_bytes().chunks_exact(2) {
        if let [low, high] = pair {
            write_python_char(&mut out, u16::from_le_bytes([*low, *high]))?;
        }
    }
    Ok(out)
}

/// Python's text for a float: repr when finite (through Python: floats are few in a row),
/// the words json writes otherwise.
fn float_text(value: &Bound<'_, PyFloat>) -> PyResult<Vec<u8>> {
    let number = value.value();
    if number.is_nan() {
        return Ok(b"NaN".to_vec());
    }
    if number.is_infinite() {
        return Ok(if number > 0.0 {
            b"Infinity".to_vec()
        } else {
            b"-Infinity".to_vec()
        });
    }
    // float.__repr__ of the value, not a subclass's own repr (as json does).
    let plain = PyFloat::new(value.py(), number);
    Ok(plain.repr()?.to_str()?.as_bytes().to_vec())
}

/// An int's decimal; `int.__repr__`, not an IntEnum's str, as json does.
fn int_text(value: &Bound<'_, PyInt>) -> PyResult<Vec<u8>> {
    let py = value.py();
    let repr = py
        .get_type::<PyInt>()
        .getattr(intern!(py, "__repr__"))?
        .call1((value,))?;
    Ok(repr
        .downcast_into::<PyString>()?
        .to_str()?
        .as_bytes()
        .to_vec())
}

/// One Python value of the tree, `depth` containers down.
pub(crate) struct Node<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    shared: &'a Shared,
    depth: usize,
}

impl<'a, 'py> Node<'a, 'py> {
    /// `obj`, written `depth` containers down (a row's values are one down).
    pub(crate) fn new(obj: &'a Bound<'py, PyAny>, shared: &'a Shared, depth: usize) -> Self {
        Node { obj, shared, depth }
    }

    /// Keep `err` for the caller and stop the serializer.
    fn fail<E: serde::ser::Error>(&self, err: PyErr) -> E {
        self.shared.fail(err)
    }

    fn string<S: Serializer>(&self, text: &Bound<'_, PyString>, s: S) -> Result<S::Ok, S::Error> {
        if let Ok(utf8) = text.to_str() {
            return s.serialize_str(utf8);
        }
        let escaped = escaped_utf16(text).map_err(|err| self.fail(err))?;
        *self.shared.pending.borrow_mut() = escaped;
        s.serialize_str("")
    }

    fn int<S: Serializer>(&self, int: &Bound<'_, PyInt>, s: S) -> Result<S::Ok, S::Error> {
        match int.extract::<i64>() {
            Ok(small) => s.serialize_i64(small),
            Err(_) => s.serialize_bytes(&int_text(int).map_err(|err| self.fail(err))?),
        }
    }

    fn child<'b>(&'b self, obj: &'b Bound<'py, PyAny>) -> Node<'b, 'py> {
        Node {
            obj,
            shared: self.shared,
            depth: self.depth.saturating_add(1),
        }
    }

    fn nested<E: serde::ser::Error>(&self) -> Result<(), E> {
        if self.depth >= MAX_DEPTH {
            let message = format!("JSON nesting deeper than {MAX_DEPTH} containers");
            return Err(self.fail(PyValueError::new_err(message)));
        }
        Ok(())
    }

    fn dict<S: Serializer>(&self, dict: &Bound<'py, PyDict>, s: S) -> Result<S::Ok, S::Error> {
        self.nested()?;
        let mut map = s.serialize_map(Some(dict.len()))?;
        for (key, value) in dict.iter() {
            map.serialize_key(&Key(self.child(&key)))?;
            map.serialize_value(&self.child(&value))?;
        }
        map.end()
    }

    fn items<S: Serializer>(
        &self,
        len: usize,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        self.nested()?;
        let mut seq = s.serialize_seq(Some(len))?;
        for item in items {
            seq.serialize_element(&self.child(&item))?;
        }
        seq.end()
    }
}

impl Serialize for Node<'_, '_> {
    /// In the order of CPython's `encoder_listencode_obj`, after the exact types a row is
    /// made of (an exact type is its own case whatever the order; a subclass check is a
    /// call under the stable ABI).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let obj = self.obj;
        if let Ok(text) = obj.downcast_exact::<PyString>() {
            return self.string(text, s);
        } else if let Ok(dict) = obj.downcast_exact::<PyDict>() {
            return self.dict(dict, s);
        } else if let Ok(int) = obj.downcast_exact::<PyInt>() {
            return self.int(int, s);
        } else if let Ok(list) = obj.downcast_exact::<PyList>() {
            return self.items(list.len(), list.iter(), s);
        }
        if obj.is_none() {
            s.serialize_unit()
        } else if let Ok(flag) = obj.downcast::<PyBool>() {
            s.serialize_bool(flag.is_true())
        } else if let Ok(text) = obj.downcast::<PyString>() {
            self.string(text, s)
        } else if let Ok(int) = obj.downcast::<PyInt>() {
            self.int(int, s)
        } else if let Ok(float) = obj.downcast::<PyFloat>() {
            s.serialize_bytes(&float_text(float).map_err(|err| self.fail(err))?)
        } else if let Ok(list) = obj.downcast::<PyList>() {
            self.items(list.len(), list.iter(), s)
        } else if let Ok(tuple) = obj.downcast::<PyTuple>() {
            self.items(tuple.len(), tuple.iter(), s)
        } else if let Ok(dict) = obj.downcast::<PyDict>() {
            self.dict(dict, s)
        } else {
            let name = obj.get_type().name().map_err(|err| self.fail(err))?;
            let message = format!("Object of type {name} is not JSON serializable");
            Err(self.fail(PyTypeError::new_err(message)))
        }
    }
}

/// A dict key: a str, or the text json makes of a float, bool, None or int key.
struct Key<'a, 'py>(Node<'a, 'py>);

impl Serialize for Key<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let node = &self.0;
        let obj = node.obj;
        let text = if let Ok(text) = obj.downcast::<PyString>() {
            return node.string(text, s);
        } else if let Ok(float) = obj.downcast::<PyFloat>() {
            float_text(float)
        } else if let Ok(flag) = obj.downcast::<PyBool>() {
            Ok(if flag.is_true() {
                b"true".to_vec()
            } else {
                b"false".to_vec()
            })
        } else if obj.is_none() {
            Ok(b"null".to_vec())
        } else if let Ok(int) = obj.downcast::<PyInt>() {
            int_text(int)
        } else {
            let name = obj.get_type().name().map_err(|err| node.fail(err))?;
            let message = format!("keys must be str, int, float, bool or None, not {name}");
            Err(PyTypeError::new_err(message))
        };
        let text = text.map_err(|err| node.fail(err))?;
        // The texts are ASCII (Python's reprs): as a str they need no escape.
        s.serialize_str(std::str::from_utf8(&text).map_err(S::Error::custom)?)
    }
}

/// The serializer a line is written with: serde_json's, with Python's separators and escapes.
pub(crate) type LineSerializer<'a> = serde_json::Serializer<&'a mut Vec<u8>, PythonFormatter<'a>>;

/// The text `write` makes with a serializer writing as `json.dumps` does; the first Python
/// error a `Node` met (or, without one, the serializer's) is the call's.
pub(crate) fn python_text<'py>(
    py: Python<'py>,
    write: impl FnOnce(&mut LineSerializer<'_>, &Shared) -> Result<(), serde_json::Error>,
) -> PyResult<Bound<'py, PyString>> {
    let out = python_bytes(8192, write)?;
    let text = std::str::from_utf8(&out).map_err(|err| PyValueError::new_err(err.to_string()))?;
    Ok(PyString::new(py, text))
}

/// `python_text`'s text as bytes (ASCII), for a piece of a line kept to be written again.
pub(crate) fn python_bytes(
    capacity: usize,
    write: impl FnOnce(&mut LineSerializer<'_>, &Shared) -> Result<(), serde_json::Error>,
) -> PyResult<Vec<u8>> {
    let shared = Shared::default();
    let mut out = Vec::with_capacity(capacity);
    let formatter = PythonFormatter {
        pending: &shared.pending,
    };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    if let Err(err) = write(&mut serializer, &shared) {
        let kept = shared.error.borrow_mut().take();
        return Err(kept.unwrap_or_else(|| PyValueError::new_err(err.to_string())));
    }
    Ok(out)
}

/// The JSON text of `value` as `json.JSONEncoder(check_circular=False).encode(value)`
/// writes it. Raises TypeError for a value json cannot write (naming its type) and
/// ValueError past `MAX_DEPTH` nested containers.
#[pyfunction]
fn json_line<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    python_text(py, |serializer, shared| {
        Node::new(value, shared, 0).serialize(serializer)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("JSON_MAX_DEPTH", MAX_DEPTH)?;
    m.add_function(wrap_pyfunction!(json_line, m)?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde::Serialize;
    use serde_json::json;

    use super::{printable_ascii, write_python_char, PythonFormatter};

    fn python_text(value: &impl Serialize) -> String {
        let pending = RefCell::new(Vec::new());
        let mut out = Vec::new();
        let formatter = PythonFormatter { pending: &pending };
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        assert!(value.serialize(&mut serializer).is_ok());
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn printable_ascii_is_found_at_every_position() {
        assert!(printable_ascii(b""));
        assert!(printable_ascii(b" ~ plain text, longer than a word ~ "));
        for len in 1..20 {
            for at in 0..len {
                for bad in [0x7f_u8, 0x80, 0xc3, 0xff] {
                    let mut text = vec![b'~'; len];
                    if let Some(byte) = text.get_mut(at) {
                        *byte = bad;
                    }
                    assert!(!printable_ascii(&text), "{len} {at} {bad}");
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
    }

    #[test]
    fn strings_are_escaped_as_ensure_ascii_does() {
        let text = "q\" b\\ / \u{8}\u{c}\n\r\t \u{0}\u{1f} \u{7f} é \u{2028} \u{1f600}";
        let expected = r#""q\" b\\ / \b\f\n\r\t \u0000\u001f \u007f \u00e9 \u2028 \ud83d\ude00""#;
        assert_eq!(python_text(&text), expected);
        assert_eq!(python_text(&"plain ~ text"), r#""plain ~ text""#);
        assert_eq!(python_text(&"ünï"), r#""\u00fcn\u00ef""#);
    }

    #[test]
    fn raw_text_is_written_untouched_and_pending_text_ends_a_string() {
        assert_eq!(python_text(&serde_bytes_like(b"1e-05")), "1e-05");
        let mut lone = Vec::new();
        assert!(write_python_char(&mut lone, 0xd800).is_ok());
        assert_eq!(lone, br"\ud800");
        let pending = RefCell::new(br"\udc00x".to_vec());
        let mut out = Vec::new();
        let formatter = PythonFormatter { pending: &pending };
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        assert!("".serialize(&mut serializer).is_ok());
        assert_eq!(out, br#""\udc00x""#);
        assert!(pending.borrow().is_empty());
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
}
