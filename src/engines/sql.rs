//! The audited statement type: every statement a driver runs is an `Sql`, and an `Sql` is made only by the
//! statement builders of each engine — `postgres/sql.rs`, `mysql/sql/` — so a `format!` string cannot reach a
//! database by accident (`scripts/check-layers.py` checks that nothing else constructs one). How each engine quotes
//! names and values is in its builders.

use std::borrow::Cow;
use std::fmt;

/// An audited SQL statement. `Debug` does not show it, since a password statement holds a verifier.
pub struct Sql(pub(in crate::engines) Cow<'static, str>);

impl Sql {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sql(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_statement() {
        assert_eq!(format!("{:?}", Sql(Cow::Borrowed("ALTER ROLE x PASSWORD 'md5secret'"))), "Sql(..)");
    }
}
