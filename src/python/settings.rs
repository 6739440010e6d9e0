//! Settings from Python: the dict `Config.to_core()` hands over becomes a typed `Config`.
//! The list of core settings and the field each one sets are declared once, in
//! `config::for_each_core_setting!`; this module expands it into `config_from` (dict →
//! `Config`), `to_dict` (`Config` → dict, for the drift test) and `CORE_SETTINGS`. How a
//! value crosses is decided by its field's type (`CoreValue`): seconds become `Duration`,
//! choice names become enums, `0` requests becomes "no limit".
//!
//! Python validates every value first (`python/ferrule/settings/`); the errors here are
//! for a dict that did not come from `Config` (a direct call of `_ferrule.serve`).

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::config::{
    for_each_core_setting, BindSpec, Choice, Cleartext, ClientCerts, Config, EventLoop,
    HttpProtocols, Interface, Lifespan, SchedPolicy, Sendfile, StaticMount, TlsVersion,
    WireProtocol,
};
use crate::log::Level;
use crate::proxy::header::ProxyProtocol;
use crate::proxy::{HeaderSet, TrustedPeers};

/// How one field's type crosses between the settings dict and `Config`.
trait CoreValue: Sized {
    /// The field's value from the dict's value for setting `name`.
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self>;
    /// The dict's value for this field's value.
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

/// Types whose pyo3 conversions are already what the dict holds.
macro_rules! plain_core_value {
    ($($ty:ty),* $(,)?) => {$(
        impl CoreValue for $ty {
            fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
                value.extract().map_err(|err| {
                    PyValueError::new_err(format!("{name}: {err}"))
                })
            }
            fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                self.clone().into_bound_py_any(py)
            }
        }
    )*};
}

plain_core_value!(
    bool,
    u32,
    u64,
    usize,
    String,
    Option<String>,
    Option<u32>,
    Option<u64>,
);

/// A path, handed over as `str` (what `Config` holds).
impl CoreValue for Option<PathBuf> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        Ok(Option::<String>::from_core(value, name)?.map(PathBuf::from))
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_ref()
            .map(|path| path.to_string_lossy().into_owned())
            .into_bound_py_any(py)
    }
}

impl CoreValue for NonZeroUsize {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let n = usize::from_core(value, name)?;
        NonZeroUsize::new(n)
            .ok_or_else(|| PyValueError::new_err(format!("{name} must be >= 1, got {n}")))
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.get().into_bound_py_any(py)
    }
}

/// A count where 0 means "no limit" (`max_requests`, as in gunicorn).
impl CoreValue for Option<NonZeroU64> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        Ok(NonZeroU64::new(u64::from_core(value, name)?))
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.map_or(0, NonZeroU64::get).into_bound_py_any(py)
    }
}

/// A duration, as float seconds.
impl CoreValue for Duration {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let secs: f64 = value
            .extract()
            .map_err(|err| PyValueError::new_err(format!("{name}: {err}")))?;
        Duration::try_from_secs_f64(secs).map_err(|_| {
            PyValueError::new_err(format!(
                "{name} must be a non-negative number of seconds, got {secs}"
            ))
        })
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_secs_f64().into_bound_py_any(py)
    }
}

/// An optional duration: `None` is off.
impl CoreValue for Option<Duration> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        if value.is_none() {
            return Ok(None);
        }
        Duration::from_core(value, name).map(Some)
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(d) => d.to_core(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

/// Addresses, as `Config.to_core()` normalises them (`127.0.0.1:8000`, `unix:PATH`, ...).
impl CoreValue for Vec<BindSpec> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let texts = Vec::<String>::from_core(value, name)?;
        let binds = texts
            .iter()
            .map(|text| BindSpec::parse(text).map_err(PyValueError::new_err))
            .collect::<PyResult<Vec<_>>>()?;
        if binds.is_empty() {
            return Err(PyValueError::new_err(format!(
                "{name} must name at least one address"
            )));
        }
        Ok(binds)
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .into_bound_py_any(py)
    }
}

/// An optional address (`metrics_bind`): `None`, or one address as `bind` spells them.
impl CoreValue for Option<BindSpec> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        Option::<String>::from_core(value, name)?
            .map(|text| BindSpec::parse(&text).map_err(PyValueError::new_err))
            .transpose()
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_ref().map(ToString::to_string).into_bound_py_any(py)
    }
}

/// Static mounts, as `Config.to_core()` normalises them (`/static=DIR;max_age=SECONDS`).
impl CoreValue for Vec<StaticMount> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        Vec::<String>::from_core(value, name)?
            .iter()
            .map(|text| {
                StaticMount::parse(text)
                    .map_err(|err| PyValueError::new_err(format!("{name}: {err}")))
            })
            .collect()
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .into_bound_py_any(py)
    }
}

impl CoreValue for Vec<String> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        value
            .extract()
            .map_err(|err| PyValueError::new_err(format!("{name}: {err}")))
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.clone().into_bound_py_any(py)
    }
}

/// Trusted peers, as the list of entries `ferrule.settings` checked.
impl CoreValue for TrustedPeers {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let entries = Vec::<String>::from_core(value, name)?;
        TrustedPeers::parse(&entries).map_err(|err| PyValueError::new_err(format!("{name}: {err}")))
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.entries().to_vec().into_bound_py_any(py)
    }
}

/// Forwarding headers, by their lower-case names.
impl CoreValue for HeaderSet {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let names = Vec::<String>::from_core(value, name)?;
        HeaderSet::from_names(&names)
            .ok_or_else(|| PyValueError::new_err(format!("{name}: unknown header in {names:?}")))
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.names().into_bound_py_any(py)
    }
}

/// `(NAME, value)` pairs (`secure_scheme_headers`).
impl CoreValue for Vec<(String, String)> {
    fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        value
            .extract()
            .map_err(|err| PyValueError::new_err(format!("{name}: {err}")))
    }
    fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.clone().into_bound_py_any(py)
    }
}

/// Choice settings: the name, as `ferrule.settings` spells it.
macro_rules! choice_core_value {
    ($($ty:ty),* $(,)?) => {$(
        impl CoreValue for $ty {
            fn from_core(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
                let text = String::from_core(value, name)?;
                <$ty as Choice>::from_name(&text).ok_or_else(|| {
                    let names: Vec<&str> =
                        <$ty as Choice>::CHOICES.iter().map(|(n, _)| *n).collect();
                    PyValueError::new_err(format!(
                        "{name} must be one of {}, got {text:?}",
                        names.join(", ")
                    ))
                })
            }
            fn to_core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                self.name().into_bound_py_any(py)
            }
        }
    )*};
}

choice_core_value!(
    HttpProtocols,
    Cleartext,
    Level,
    Sendfile,
    SchedPolicy,
    ClientCerts,
    TlsVersion,
    Interface,
    EventLoop,
    Lifespan,
    ProxyProtocol,
    WireProtocol
);

/// The names of the choice settings' values, by setting: `_ferrule.CORE_CHOICES`.
fn choices<T: Choice>() -> Vec<&'static str> {
    T::CHOICES.iter().map(|(name, _)| *name).collect()
}

/// `_ferrule.CORE_CHOICES`: for each choice setting, the names the core accepts (the drift
/// test compares them with `ferrule.settings`).
pub(super) fn core_choices(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("log_level", PyTuple::new(py, choices::<Level>())?)?;
    d.set_item("sendfile", PyTuple::new(py, choices::<Sendfile>())?)?;
    d.set_item("sched_policy", PyTuple::new(py, choices::<SchedPolicy>())?)?;
    d.set_item("cert_reqs", PyTuple::new(py, choices::<ClientCerts>())?)?;
    d.set_item(
        "tls_min_version",
        PyTuple::new(py, choices::<TlsVersion>())?,
    )?;
    d.set_item("interface", PyTuple::new(py, choices::<Interface>())?)?;
    d.set_item("loop", PyTuple::new(py, choices::<EventLoop>())?)?;
    d.set_item("lifespan", PyTuple::new(py, choices::<Lifespan>())?)?;
    d.set_item(
        "proxy_protocol",
        PyTuple::new(py, choices::<ProxyProtocol>())?,
    )?;
    d.set_item("protocol", PyTuple::new(py, choices::<WireProtocol>())?)?;
    d.set_item(
        "http_protocols",
        PyTuple::new(py, choices::<HttpProtocols>())?,
    )?;
    d.set_item("http2_cleartext", PyTuple::new(py, choices::<Cleartext>())?)?;
    Ok(d)
}

macro_rules! core_settings {
    ($($name:ident => $($field:ident).+,)*) => {
        /// The settings the core reads, by name: the keys of `Config.to_core()`.
        pub const CORE_SETTINGS: &[&str] = &[$(stringify!($name)),*];

        /// `Config` from the settings dict, which must hold every core setting and nothing
        /// else.
        ///
        /// # Errors
        /// `ValueError` for an unknown key or a bad value, `KeyError` for a missing key.
        pub fn config_from(settings: &Bound<'_, PyDict>) -> PyResult<Config> {
            for key in settings.keys() {
                let key: String = key.extract()?;
                if !CORE_SETTINGS.contains(&key.as_str()) {
                    return Err(PyValueError::new_err(format!(
                        "unknown core setting {key:?}"
                    )));
                }
            }
            let mut config = Config::default();
            $(
                let value = settings.get_item(stringify!($name))?.ok_or_else(|| {
                    PyKeyError::new_err(format!("missing core setting {:?}", stringify!($name)))
                })?;
                config.$($field).+ = CoreValue::from_core(&value, stringify!($name))?;
            )*
            Ok(config)
        }

        /// The settings dict of `config`: what `config_from` reads back into it.
        ///
        /// # Errors
        /// Python errors while building the dict (out of memory).
        pub fn to_dict<'py>(py: Python<'py>, config: &Config) -> PyResult<Bound<'py, PyDict>> {
            let d = PyDict::new(py);
            $( d.set_item(stringify!($name), config.$($field).+.to_core(py)?)?; )*
            Ok(d)
        }
    };
}

for_each_core_setting!(core_settings);
