//! The domain's value types: what a rotation is about — engines, users, passwords, endpoints, versions and steps —
//! apart from how they are stored, reached or configured. The lowest layer: every other module may use it, and it
//! uses nothing of the crate.

mod engine;
mod names;
mod target;
pub(crate) mod text;
mod time;
mod versions;

pub use engine::EngineKind;
pub(crate) use engine::Family;
pub use names::{Login, Password, UserName};
pub use target::{Target, TlsChoice};
pub(crate) use text::{server_message, shown};
pub(crate) use time::Timestamp;
pub(crate) use versions::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Strategy};
pub use versions::{RotationToken, Step, VersionId};
