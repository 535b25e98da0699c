//! The operators' commands over many secrets: `status` (what each secret rotates, whether it is on time, stuck or
//! off, and with `--verify` whether a rotation would work) and `attach` (rotation switched on only for secrets whose
//! preflight passes). They read the secrets through the `SecretCatalog` port and run the core's preflight; printing
//! is the command line's (`cli/`). Ending one stuck rotation (`cancel`) is the core's own (`rotation/cancel.rs`).

pub(crate) mod attach;
pub(crate) mod status;

use crate::rotation::Rotator;

/// How many secrets `status` and `attach` read at once: each read is a few calls that wait on the network (tens of
/// milliseconds each on the real service), so one after another hundreds of secrets take tens of seconds.
pub const READS_AT_ONCE: usize = 16;
/// How many preflights (`status --verify`, `attach`) run at once: each logs in to a database, and many secrets may
/// share one server, whose connection limit is not this command's to use up.
pub(crate) const PREFLIGHTS_AT_ONCE: usize = 4;

/// The secrets as operators see them (`catalog`), and the rotator whose preflight judges each one.
pub(crate) struct Fleet<'a, C, S, E, R> {
    pub catalog: &'a C,
    pub rotator: &'a Rotator<S, E, R>,
}
