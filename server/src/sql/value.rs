//! The values that cross the engine-neutral SQL layer: what a statement is given
//! ([`ToValue`], [`Params`]) and what a row gives back ([`FromValue`]).

use super::{Error, Result};

/// One SQL value, the same on every engine. Booleans travel as integers 0 and 1, as SQLite
/// keeps them; the PostgreSQL schema uses `BIGINT` where SQLite has `INTEGER`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (also booleans).
    Integer(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// Something a statement can take as a parameter.
pub trait ToValue {
    /// The value bound for this parameter.
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

macro_rules! to_value_lossless_int {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Integer(i64::from(*self))
            }
        }
    )*};
}
to_value_lossless_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! to_value_checked_int {
    ($($t:ty),*) => {$(
        /// Values above `i64::MAX` cannot be stored; they saturate (no count or sequence
        /// reaches them).
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
to_value_checked_int!(u64, usize, isize);

/// Something a row's column can be read as.
pub trait FromValue: Sized {
    /// Convert the column's value, or say why it cannot be.
    fn from_value(value: &Value) -> Result<Self>;
}

fn mismatch<T>(expected: &'static str, found: &Value) -> Result<T> {
    Err(Error::Conversion(format!(
        "expected {expected}, found {}",
        found.kind()
    )))
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            v => mismatch("text", v),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            // SQLite hands back a text-typed column as text even when bytes were meant.
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            v => mismatch("blob", v),
        }
    }
}

impl<const N: usize> FromValue for [u8; N] {
    fn from_value(value: &Value) -> Result<Self> {
        let bytes = Vec::<u8>::from_value(value)?;
        let len = bytes.len();
        bytes
            .try_into()
            .map_err(|_| Error::Conversion(format!("expected {N} bytes, found {len}")))
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Real(r) => Ok(*r),
            Value::Integer(i) => Ok(*i as f64),
            v => mismatch("real", v),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Integer(i) => Ok(*i != 0),
            v => mismatch("integer (boolean)", v),
        }
    }
}

macro_rules! from_value_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self> {
                match value {
                    Value::Integer(i) => <$t>::try_from(*i).map_err(|_| {
                        Error::Conversion(format!(
                            "integer {i} out of range for {}",
                            stringify!($t)
                        ))
                    }),
                    v => mismatch("integer", v),
                }
            }
        }
    )*};
}
from_value_int!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

/// The parameters of one statement: an array (`[a, b]`, `[]`), a tuple (`(a, b)`) or the
/// slice [`crate::params!`] makes (parameters of several types).
pub trait Params {
    /// The values, in order.
    fn into_values(self) -> Vec<Value>;
}

impl Params for [&dyn ToValue; 0] {
    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
}

impl Params for &[&dyn ToValue] {
    fn into_values(self) -> Vec<Value> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl Params for Vec<Value> {
    fn into_values(self) -> Vec<Value> {
        self
    }
}

macro_rules! params_array {
    ($($n:literal),*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn into_values(self) -> Vec<Value> {
                self.iter().map(ToValue::to_value).collect()
            }
        }
        impl<T: ToValue> Params for &[T; $n] {
            fn into_values(self) -> Vec<Value> {
                self.iter().map(ToValue::to_value).collect()
            }
        }
    )*};
}
params_array!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

macro_rules! params_tuple {
    ($(($($name:ident),+)),*) => {$(
        #[allow(non_snake_case)]
        impl<$($name: ToValue),+> Params for ($($name,)+) {
            fn into_values(self) -> Vec<Value> {
                let ($($name,)+) = self;
                vec![$($name.to_value()),+]
            }
        }
    )*};
}
params_tuple!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H)
);

/// Parameters of mixed types, as rusqlite's `params!`: `params![id, name, 3]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::sql::ToValue]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::sql::ToValue),+] as &[&dyn $crate::sql::ToValue]
    };
}
