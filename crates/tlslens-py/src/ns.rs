//! A timestamp in nanoseconds as the boundary hands it to Python.
//!
//! A capture's times need 128 bits (a pcapng clock may count past 2262, or before 1678),
//! but PyO3 makes a 128-bit int under the stable ABI through a Python call (`int.from_bytes`,
//! ~560 instructions): tens of thousands of events a capture cross with their time. A time
//! that fits 64 bits, as every real one does, is made as one.

use std::convert::Infallible;

use pyo3::prelude::*;
use pyo3::types::PyInt;

/// Nanoseconds since the Unix epoch, made into a Python int through 64 bits when it fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ns(pub i128);

impl<'py> IntoPyObject<'py> for Ns {
    type Target = PyInt;
    type Output = Bound<'py, PyInt>;
    type Error = Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        match i64::try_from(self.0) {
            Ok(small) => small.into_pyobject(py),
            Err(_) => self.0.into_pyobject(py),
        }
    }
}

impl<'py> IntoPyObject<'py> for &Ns {
    type Target = PyInt;
    type Output = Bound<'py, PyInt>;
    type Error = Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        (*self).into_pyobject(py)
    }
}

#[cfg(test)]
mod tests {
    use super::Ns;
    use pyo3::prelude::*;

    #[test]
    fn every_time_is_the_same_int_through_either_path() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            for ts in [
                0,
                -1,
                1_764_324_000_123_456_789,
                i128::from(i64::MAX),
                i128::from(i64::MIN),
            ]
            .into_iter()
            .chain([
                i128::from(i64::MAX) + 1,
                i128::from(i64::MIN) - 1,
                i128::MAX,
                i128::MIN,
            ]) {
                let made: i128 = Ns(ts).into_pyobject(py).unwrap().extract().unwrap();
                assert_eq!(made, ts);
            }
        });
    }
}
