//! Look-ups on a loaded [`Scenario`] that the world and the CLI need: hosts by name and index.

use super::types::{Host, Scenario};

impl Scenario {
    /// The host names, in file order.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.get_ref().name.get_ref().clone()).collect()
    }

    /// The host called `name` (the first, though a validated scenario has no duplicates).
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().map(|h| h.get_ref()).find(|h| h.name.get_ref() == name)
    }

    /// The position in `hosts` of the host called `name`. Validation caps the number of hosts
    /// at `u16::MAX`, so every host of a validated scenario has an index.
    pub fn host_index(&self, name: &str) -> Option<u16> {
        let index = self.hosts.iter().position(|h| h.get_ref().name.get_ref() == name)?;
        u16::try_from(index).ok()
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::parse_str;

    fn check(name: &str, expected: Option<(u16, &str)>) {
        let scenario = parse_str("q.toml", include_str!("testdata/quickstart.toml")).expect("valid");
        let got = scenario.host_index(name).map(|i| (i, scenario.host(name).expect("indexed").service.kind()));
        assert_eq!(got, expected, "{name}");
    }

    #[test]
    fn hosts_by_name() {
        check("db", Some((0, "kv-primary")));
        check("replica", Some((1, "kv-replica")));
        check("app", Some((3, "app")));
        check("nope", None);
        let scenario = parse_str("q.toml", include_str!("testdata/quickstart.toml")).expect("valid");
        assert_eq!(scenario.host_names(), ["db", "replica", "cache", "app"]);
    }
}
