//! The text serializer of `show --json`'s lines: serde's data model written as
//! `json.JSONEncoder(check_circular=False)` writes Python values (", " and ": " between
//! items, `ensure_ascii` escapes), straight into a byte buffer.
//!
//! Strategy: a line is mostly strings (names, digests, times, messages), most of them
//! printable ASCII with neither quote nor backslash: such a string is found eight bytes at
//! a time and copied whole; only the others are escaped character by character. (serde_json's
//! own writer looked up every byte in its escape table and called its formatter for each
//! run between escapes: the costliest part of a row.) Two things serde's data model cannot
//! carry reach the buffer another way (json.rs):
//! - raw text (an int beyond 64 bits, a float as Python's repr, NaN) comes as bytes, written
//!   untouched: a row never holds bytes, the walk refuses them as json does;
//! - a str that is not UTF-8 (a lone surrogate) comes as the empty str, its escaped text
//!   left in `pending`, written before the closing quote (so it also works as a dict key).

use std::cell::RefCell;

use serde::ser::{self, Error as _, Serialize};

type Error = serde_json::Error;
type Done = Result<(), Error>;

/// Writes serde's data model as Python's json does, into `out`.
pub(crate) struct LineSerializer<'a> {
    out: &'a mut Vec<u8>,
    /// A non-UTF-8 str's escaped text, for the empty str standing in for it.
    pending: &'a RefCell<Vec<u8>>,
}

impl<'a> LineSerializer<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>, pending: &'a RefCell<Vec<u8>>) -> Self {
        Self { out, pending }
    }

    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        if bytes.is_empty() || !plain(bytes) {
            self.escaped(text);
            return;
        }
        // Nine strings in ten are plain (the keys all are): one reservation, three copies.
        let out = &mut *self.out;
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    }

    /// `text` when it is empty (the pending raw text, if any, goes inside its quotes) or
    /// needs escaping: apart, so that the plain path keeps few registers.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, text: &str) {
        let out = &mut *self.out;
        out.push(b'"');
        if text.is_empty() {
            out.append(&mut self.pending.borrow_mut());
        } else {
            escape(out, text);
        }
        out.push(b'"');
    }

    fn integer(&mut self, value: impl itoa::Integer) {
        let mut digits = itoa::Buffer::new();
        self.out.extend_from_slice(digits.format(value).as_bytes());
    }

    fn open(&mut self, bracket: u8) -> Compound<'a, '_> {
        self.out.push(bracket);
        Compound {
            ser: self,
            first: true,
            close: Close::One,
        }
    }

    /// `{"variant": ` before a variant's value (serde_json's form; the row has none).
    fn variant(&mut self, variant: &str) {
        self.out.push(b'{');
        self.text(variant);
        self.out.extend_from_slice(b": ");
    }

    /// A tuple or struct variant's container, closed with its brace too.
    fn open_variant(&mut self, variant: &str, bracket: u8) -> Compound<'a, '_> {
        self.variant(variant);
        Compound {
            close: Close::Two,
            ..self.open(bracket)
        }
    }
}

/// Printable ASCII with neither `"` nor `\`: written as it is. Eight bytes at a time: a
/// high bit marks a byte from 0x7f up (a byte below 0x7f plus one stays below 0x80), below
/// 0x20, or equal to `"` or `\` (a zero byte once xored with it). The last word overlaps
/// the one before; a text shorter than a word is read as two overlapping halves (4 to 7
/// bytes) or as its first, middle and last bytes (1 to 3, which are then all of them),
/// the other lanes plain: a key is mostly that short, and a byte-by-byte fold cost it more
/// than the rest of its writing.
fn plain(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const PLAIN: u8 = b'a';
    let zero_in = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    let flags = |word: u64| {
        ((word | word.wrapping_add(ONES)) & HIGH)
            | (word.wrapping_sub(SPACES) & !word & HIGH)
            | zero_in(word ^ QUOTES)
            | zero_in(word ^ BACKSLASHES)
    };
    let word = |at: usize| -> u64 {
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(HIGH, u64::from_ne_bytes)
    };
    let half = |at: usize| -> [u8; 4] {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .unwrap_or([0x80; 4])
    };
    let len = bytes.len();
    let flagged = match len {
        0 => 0,
        1..=3 => {
            let byte = |at: usize| bytes.get(at).copied().unwrap_or(0x80);
            let (first, middle, last) = (byte(0), byte(len / 2), byte(len - 1));
            flags(u64::from_ne_bytes([
                first, middle, last, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN,
            ]))
        }
        4..=7 => {
            let (first, last) = (half(0), half(len - 4));
            flags(u64::from_ne_bytes([
                first[0], first[1], first[2], first[3], last[0], last[1], last[2], last[3],
            ]))
        }
        _ => {
            let mut flagged = 0;
            let mut at = 0;
            while at + 8 < len {
                flagged |= flags(word(at));
                at += 8;
            }
            flagged | flags(word(len - 8))
        }
    };
    flagged == 0
}

/// `text` with every character `ensure_ascii` escapes escaped (UTF-16 units above 0xffff).
fn escape(out: &mut Vec<u8>, text: &str) {
    for c in text.chars() {
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            python_char(out, *unit);
        }
    }
}

/// One UTF-16 code unit as Python's `ensure_ascii` writes it (`ascii_escape_unichar`).
pub(crate) fn python_char(out: &mut Vec<u8>, unit: u16) {
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
        out.extend_from_slice(named);
        return;
    }
    if let Ok(byte @ 0x20..=0x7e) = u8::try_from(unit) {
        out.push(byte);
        return;
    }
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        if let Some(digit) = HEX.get(usize::from((unit >> shift) & 0xf)) {
            out.push(*digit);
        }
    }
}

/// serde's integer methods, each written by `itoa` (as serde_json writes them).
macro_rules! integers {
    ($($method:ident: $kind:ty),+) => {$(
        fn $method(self, v: $kind) -> Done {
            self.integer(v);
            Ok(())
        }
    )+};
}

/// serde's methods for values that are no key of the line: each an error.
macro_rules! not_keys {
    ($($method:ident($($kind:ty)?)),+) => {$(
        fn $method(self $(, _v: $kind)?) -> Done {
            Err(not_a_key())
        }
    )+};
}

/// A unit variant as its name, a newtype struct as what it holds: the same for values and
/// keys.
macro_rules! as_their_content {
    () => {
        fn serialize_unit_variant(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
        ) -> Done {
            self.serialize_str(variant)
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _name: &'static str,
            value: &T,
        ) -> Done {
            value.serialize(self)
        }
    };
}

impl<'a, 'b> ser::Serializer for &'b mut LineSerializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Done {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128
    );
    /// Floats reach the line as Python's repr (raw text, `serialize_bytes`); one that came
    /// this way is written as serde_json would (shortest digits; null when not finite).
    fn serialize_f32(self, v: f32) -> Done {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Done {
        if v.is_finite() {
            let mut digits = ryu::Buffer::new();
            self.out
                .extend_from_slice(digits.format_finite(v).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }
    fn serialize_char(self, v: char) -> Done {
        self.text(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        self.text(v);
        Ok(())
    }
    /// Raw text, written untouched (json.rs: the walk never hands a row's bytes here).
    fn serialize_bytes(self, v: &[u8]) -> Done {
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Done {
        self.serialize_unit()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done {
        self.serialize_unit()
    }
    as_their_content!();
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Done {
        self.variant(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(b'['))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open_variant(variant, b'['))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(b'{'))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(b'{'))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open_variant(variant, b'{'))
    }
}

/// What ends a container: its bracket, or also a variant's brace.
#[derive(Clone, Copy)]
enum Close {
    One,
    Two,
}

/// A container being written: its items, ", " between them.
pub(crate) struct Compound<'a, 'b> {
    ser: &'b mut LineSerializer<'a>,
    first: bool,
    close: Close,
}

impl Compound<'_, '_> {
    fn separate(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.ser.out.extend_from_slice(b", ");
        }
    }

    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.separate();
        value.serialize(&mut *self.ser)
    }

    fn field<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> Done {
        self.separate();
        self.ser.text(key);
        self.ser.out.extend_from_slice(b": ");
        value.serialize(&mut *self.ser)
    }

    fn end(self, bracket: u8) -> Done {
        self.ser.out.push(bracket);
        if let Close::Two = self.close {
            self.ser.out.push(b'}');
        }
        Ok(())
    }
}

/// The four kinds of sequence serde tells apart, all written as a list.
macro_rules! sequence {
    ($($kind:ident :: $method:ident),+) => {$(
        impl ser::$kind for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
                self.element(value)
            }
            fn end(self) -> Done {
                Compound::end(self, b']')
            }
        }
    )+};
}

sequence!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Done {
        self.separate();
        key.serialize(Key(&mut *self.ser))
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.ser.out.extend_from_slice(b": ");
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Done {
        Compound::end(self, b'}')
    }
}

/// The two kinds of struct serde tells apart, both written as an object.
macro_rules! structs {
    ($($kind:ident),+) => {$(
        impl ser::$kind for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Done {
                self.field(key, value)
            }
            fn end(self) -> Done {
                Compound::end(self, b'}')
            }
        }
    )+};
}

structs!(SerializeStruct, SerializeStructVariant);

/// A map's key: a str (json.rs makes every key one, as json does); anything else is an error.
struct Key<'a, 'b>(&'b mut LineSerializer<'a>);

fn not_a_key() -> Error {
    Error::custom("a key of the line must be a str")
}

impl<'a, 'b> ser::Serializer for Key<'a, 'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Done {
        self.0.text(v);
        Ok(())
    }
    not_keys!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit()
    );
    fn serialize_char(self, v: char) -> Done {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Done {
        Err(not_a_key())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done {
        Err(not_a_key())
    }
    as_their_content!();
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Done {
        Err(not_a_key())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_key())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_key())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_key())
    }
}

#[cfg(test)]
mod tests;
