//! Directory sharding: an explicit tenant -> node table, as a multi-tenant SaaS keeps for its
//! large customers.
//!
//! A key's tenant is its bytes up to the first `:` (`acme:item:42` -> `acme`), or the whole key
//! if it has no `:`. A known tenant goes to its node; an unknown one goes to the default node if
//! there is one, else it is jump-hashed (its tenant, not the whole key, so a tenant's keys stay
//! together) over the node list. Tenant names must be non-empty and free of `:` (else no key
//! could match them), and every node named must be in the node list.
//!
//! Membership changes: adding a node moves no known tenant (unknown tenants without a default
//! move to it as jump hash moves them); removing a node is refused while a tenant or the default
//! still names it, and otherwise moves only unknown tenants, which jump hash renumbers.
//!
//! This file owns the table and its lookup; it must not allocate on lookup.

use std::collections::BTreeMap;

use super::{Node, ShardError, jump, key_hash};

/// The tenant table, resolved to node indices.
#[derive(Debug, Clone)]
pub struct Directory {
    tenants: BTreeMap<Box<[u8]>, usize>,
    default: Option<usize>,
}

impl Directory {
    /// Checks every tenant and node name and resolves names to indices.
    pub fn build(nodes: &[Node], tenants: &BTreeMap<String, Node>, default: Option<&Node>) -> Result<Self, ShardError> {
        let find = |tenant: &str, node: &Node| {
            nodes
                .iter()
                .position(|n| n == node)
                .ok_or_else(|| ShardError::DirectoryUnknownNode { tenant: tenant.to_owned(), node: node.clone() })
        };
        let mut table = BTreeMap::new();
        for (tenant, node) in tenants {
            if tenant.is_empty() || tenant.contains(':') {
                return Err(ShardError::DirectoryBadTenant { tenant: tenant.clone() });
            }
            table.insert(tenant.as_bytes().into(), find(tenant, node)?);
        }
        let default = default.map(|node| find("*", node)).transpose()?;
        Ok(Directory { tenants: table, default })
    }

    /// The index of the node owning `key`, among `nodes` nodes.
    pub fn owner(&self, key: &[u8], nodes: usize) -> usize {
        let tenant = tenant(key);
        match (self.tenants.get(tenant), self.default) {
            (Some(&index), _) => index,
            (None, Some(index)) => index,
            (None, None) => jump::bucket(key_hash(tenant), nodes),
        }
    }
}

/// A key's tenant: its bytes up to the first `:`, or all of it.
pub fn tenant(key: &[u8]) -> &[u8] {
    match key.iter().position(|&b| b == b':') {
        Some(end) => &key[..end],
        None => key,
    }
}

/// Refuses to let `node` leave while a tenant or the default names it.
pub fn check_unused(node: &Node, tenants: &BTreeMap<String, Node>, default: Option<&Node>) -> Result<(), ShardError> {
    if let Some((tenant, _)) = tenants.iter().find(|(_, n)| *n == node) {
        return Err(ShardError::DirectoryInUse { node: node.clone(), tenant: tenant.clone() });
    }
    if default == Some(node) {
        return Err(ShardError::DirectoryInUse { node: node.clone(), tenant: "*".to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<Node> {
        ["eu1", "eu2", "us1"].iter().map(|&n| Node::from(n)).collect()
    }

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, Node> {
        pairs.iter().map(|&(t, n)| (t.to_owned(), Node::from(n))).collect()
    }

    fn check(directory: &Directory, key: &str, expected: &str) {
        let nodes = nodes();
        assert_eq!(&*nodes[directory.owner(key.as_bytes(), nodes.len())], expected, "key {key:?}");
    }

    #[test]
    fn the_tenant_is_the_key_up_to_its_first_colon() {
        assert_eq!(tenant(b"acme:item:42"), b"acme");
        assert_eq!(tenant(b"acme"), b"acme");
        assert_eq!(tenant(b":x"), b"");
        assert_eq!(tenant(b""), b"");
    }

    #[test]
    fn known_tenants_go_to_their_node_and_others_to_the_default() {
        let default = Node::from("us1");
        let directory =
            Directory::build(&nodes(), &table(&[("acme", "eu1"), ("globex", "eu2")]), Some(&default)).unwrap();
        check(&directory, "acme:item:42", "eu1");
        check(&directory, "acme", "eu1");
        check(&directory, "globex:user:7", "eu2");
        check(&directory, "acmex:1", "us1");
        check(&directory, "initech:1", "us1");
        check(&directory, "", "us1");
    }

    #[test]
    fn without_a_default_an_unknown_tenant_keeps_its_keys_together() {
        let directory = Directory::build(&nodes(), &table(&[("acme", "eu1")]), None).unwrap();
        for tenant in ["initech", "hooli", "umbrella", "x"] {
            let first = directory.owner(format!("{tenant}:0").as_bytes(), 3);
            for i in 1..50 {
                assert_eq!(directory.owner(format!("{tenant}:{i}").as_bytes(), 3), first, "tenant {tenant}");
            }
            assert_eq!(first, jump::bucket(key_hash(tenant.as_bytes()), 3));
        }
    }

    #[test]
    fn bad_directories_are_errors() {
        let unknown = Directory::build(&nodes(), &table(&[("acme", "ap1")]), None).unwrap_err();
        assert_eq!(unknown, ShardError::DirectoryUnknownNode { tenant: "acme".into(), node: "ap1".into() });
        let bad_default = Directory::build(&nodes(), &table(&[]), Some(&Node::from("ap1"))).unwrap_err();
        assert_eq!(bad_default, ShardError::DirectoryUnknownNode { tenant: "*".into(), node: "ap1".into() });
        for tenant in ["", "a:b"] {
            let bad = Directory::build(&nodes(), &table(&[(tenant, "eu1")]), None).unwrap_err();
            assert_eq!(bad, ShardError::DirectoryBadTenant { tenant: tenant.into() });
        }
    }

    #[test]
    fn a_node_in_use_cannot_leave() {
        let tenants = table(&[("acme", "eu1")]);
        let us1 = Node::from("us1");
        assert!(matches!(check_unused(&"eu1".into(), &tenants, None), Err(ShardError::DirectoryInUse { .. })));
        assert!(matches!(check_unused(&us1, &tenants, Some(&us1)), Err(ShardError::DirectoryInUse { .. })));
        assert_eq!(check_unused(&"eu2".into(), &tenants, Some(&us1)), Ok(()));
    }
}
