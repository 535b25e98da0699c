//! Amazon RDS endpoint host names, parsed exactly: `<identifier>.<kind><hash>.<region>.rds.amazonaws.com`, with
//! `.cn` after it in the China Regions. A name is an RDS endpoint only when it ends in one of those suffixes and every
//! label before them has its form — `db1.abc.eu-west-1.rds.amazonaws.evil.com` or
//! `x.rds.amazonaws.com.attacker.net` are not. Pure: no I/O.

/// What kind of endpoint a host name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndpointKind {
    /// A DB instance's own endpoint (`db1.abc123…`).
    Instance,
    /// An Aurora cluster's writer endpoint (`app.cluster-abc123…`).
    Cluster,
    /// An Aurora cluster's reader endpoint (`app.cluster-ro-abc123…`).
    Reader,
    /// An Aurora custom endpoint (`name.cluster-custom-abc123…`): the identifier is the endpoint's, not a cluster's.
    Custom,
    /// An RDS Proxy endpoint (`name.proxy-abc123…`).
    Proxy,
}

/// A parsed RDS endpoint name, in lower case (host names and RDS identifiers are case-insensitive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RdsEndpoint {
    /// The instance, cluster, custom endpoint or proxy identifier.
    pub id: String,
    pub kind: EndpointKind,
    /// The account-and-Region hash RDS puts in every endpoint name of an account in a Region.
    pub hash: String,
    pub region: String,
    /// `rds.amazonaws.com` (commercial and GovCloud) or `rds.amazonaws.com.cn` (China).
    pub suffix: &'static str,
}

const SUFFIXES: [&str; 2] = ["rds.amazonaws.com.cn", "rds.amazonaws.com"];

impl RdsEndpoint {
    /// `None` for anything that is not exactly an RDS endpoint name (an IP address, a CNAME of one, another domain).
    pub(crate) fn parse(host: &str) -> Option<RdsEndpoint> {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let (suffix, rest) = SUFFIXES.iter().find_map(|suffix| {
            let rest = host.strip_suffix(suffix)?.strip_suffix('.')?;
            Some((*suffix, rest.to_owned()))
        })?;
        let labels: Vec<&str> = rest.split('.').collect();
        let [id, second, region] = labels.as_slice() else { return None };
        if !is_identifier(id) || !is_region(region) || (suffix == SUFFIXES[0]) != region.starts_with("cn-") {
            return None;
        }
        let (kind, hash) = [
            ("cluster-ro-", EndpointKind::Reader),
            ("cluster-custom-", EndpointKind::Custom),
            ("cluster-", EndpointKind::Cluster),
            ("proxy-", EndpointKind::Proxy),
        ]
        .into_iter()
        .find_map(|(prefix, kind)| second.strip_prefix(prefix).map(|hash| (kind, hash)))
        .unwrap_or((EndpointKind::Instance, second));
        if hash.is_empty() || hash.len() > 32 || !hash.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        Some(RdsEndpoint { id: (*id).to_owned(), kind, hash: hash.to_owned(), region: (*region).to_owned(), suffix })
    }

    /// Whether `self` and `other` are endpoints of the same account and Region (the same hash and domain).
    pub(crate) fn same_account_and_region(&self, other: &RdsEndpoint) -> bool {
        self.hash == other.hash && self.region == other.region && self.suffix == other.suffix
    }
}

/// An RDS identifier: 1 to 63 letters, digits and hyphens, starting with a letter.
fn is_identifier(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.starts_with(|c: char| c.is_ascii_alphabetic())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A Region name: `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-7`, `us-isob-east-1`.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let letters = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase());
    let number = |part: &str| !part.is_empty() && part.len() <= 2 && part.chars().all(|c| c.is_ascii_digit());
    match parts.as_slice() {
        [area, direction, n] => area.len() == 2 && letters(area) && letters(direction) && number(n),
        [area, partition, direction, n] => {
            area.len() == 2
                && ["gov", "iso", "isob", "isof", "isoe"].contains(partition)
                && letters(direction)
                && number(n)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(host: &str, expected: Option<(&str, EndpointKind)>) {
        let parsed = RdsEndpoint::parse(host).map(|e| (e.id, e.kind));
        assert_eq!(parsed.as_ref().map(|(id, kind)| (id.as_str(), *kind)), expected, "{host}");
    }

    #[test]
    fn rds_endpoint_names_are_recognised() {
        use EndpointKind::*;
        check("db1.abc123.eu-west-1.rds.amazonaws.com", Some(("db1", Instance)));
        check("DB1.ABC123.eu-west-1.rds.amazonaws.com.", Some(("db1", Instance)));
        check("app.cluster-abc123.eu-west-1.rds.amazonaws.com", Some(("app", Cluster)));
        check("app.cluster-ro-abc123.eu-west-1.rds.amazonaws.com", Some(("app", Reader)));
        check("rep.cluster-custom-abc123.eu-west-1.rds.amazonaws.com", Some(("rep", Custom)));
        check("px.proxy-abc123.eu-west-1.rds.amazonaws.com", Some(("px", Proxy)));
        check("db1.abc123.us-gov-west-1.rds.amazonaws.com", Some(("db1", Instance)));
        check("db1.abc123.cn-north-1.rds.amazonaws.com.cn", Some(("db1", Instance)));
        check("db1.abc123.il-central-1.rds.amazonaws.com", Some(("db1", Instance)));
    }

    /// The domain is anchored: look-alikes, extra labels and mismatched partitions are not RDS endpoints.
    #[test]
    fn look_alikes_are_not_rds_endpoints() {
        for host in [
            "db1.abc123.eu-west-1.rds.amazonaws.evil.com",
            "db1.abc123.eu-west-1.rds.amazonaws.com.attacker.net",
            "db1.abc123.eu-west-1.rds.amazonaws.comx",
            "db1.abc123.eu-west-1.xrds.amazonaws.com",
            "a.db1.abc123.eu-west-1.rds.amazonaws.com",
            "db1.eu-west-1.rds.amazonaws.com",
            "db1.abc123.cn-north-1.rds.amazonaws.com",
            "db1.abc123.eu-west-1.rds.amazonaws.com.cn",
            "db1.abc123.west-1.rds.amazonaws.com",
            "db1.abc-123.eu-west-1.rds.amazonaws.com",
            "1db.abc123.eu-west-1.rds.amazonaws.com",
            "db1.cluster-.eu-west-1.rds.amazonaws.com",
            "rds.amazonaws.com",
            "db.example.com",
            "10.0.0.1",
            "",
        ] {
            check(host, None);
        }
    }

    #[test]
    fn endpoints_of_one_account_and_region_share_the_hash() {
        let writer = RdsEndpoint::parse("app.cluster-abc123.eu-west-1.rds.amazonaws.com").unwrap();
        let reader = RdsEndpoint::parse("app.cluster-ro-abc123.eu-west-1.rds.amazonaws.com").unwrap();
        let other = RdsEndpoint::parse("app.cluster-ro-zzz999.eu-west-1.rds.amazonaws.com").unwrap();
        assert!(writer.same_account_and_region(&reader));
        assert!(!writer.same_account_and_region(&other));
    }
}
