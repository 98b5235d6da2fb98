//! Shard routing: which node owns a key, under seven schemes a SaaS architecture might use.
//!
//! A [`Sharder`] is built from a [`Scheme`] and a list of node names, and answers
//! [`Sharder::owner`] for any key without allocating. Nodes can join ([`Sharder::add`]) and
//! leave ([`Sharder::remove`]); [`moved_fraction`] and [`spread`] measure what that costs and how
//! evenly keys land, and [`report`] puts both in a form a CLI can print.
//!
//! - [`ring`]: consistent hashing with virtual nodes (ketama: 160 points a node by default).
//! - [`jump`]: Lamping & Veach's jump consistent hash; only the last bucket may leave.
//! - [`rendezvous`]: highest random weight; the node with the highest hash of (node, key) wins.
//! - [`maglev`]: Google's Maglev lookup table (a prime number of entries, 65,537 by default).
//! - [`hashmod`]: `hash(key) % n`, the contrast: adding a node moves about n/(n + 1) of the keys.
//! - [`range`]: split points over the raw key bytes, node `i` owning the `i`-th range.
//! - [`directory`]: an explicit tenant -> node table, the tenant being the key up to its first `:`.
//!
//! Nodes are identified by name ([`Node`] is an `Arc<str>`), never by address or position, so a
//! ring built from the same names is the same ring on every run and every machine. Ring,
//! rendezvous and Maglev depend only on the *set* of names (Maglev sorts them before filling its
//! table; ties on the ring go to the smaller name); jump, hash-mod and range depend on the order
//! of the list by design (a node's position is its bucket or its range).
//!
//! This module is pure and deterministic: no I/O, no clock, no randomness. Every hash is xxh3
//! with a fixed seed (never std's `RandomState`), so owners never change between runs.

pub mod directory;
pub mod hashmod;
pub mod jump;
pub mod maglev;
pub mod measure;
pub mod range;
pub mod rendezvous;
pub mod ring;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use measure::{Report, Spread, moved_fraction, report, sample_keys, spread};

/// A node's name (e.g. `"cache2"`). Nodes are identified by name so that rings are stable across
/// runs; an `Arc<str>` so that cloning a node list (on every add or remove) copies no strings.
pub type Node = Arc<str>;

/// Virtual nodes a ring node gets by default (ketama's 160 points a server).
pub const DEFAULT_VNODES: u32 = 160;
/// Entries in a Maglev table by default (a prime; Envoy's default).
pub const DEFAULT_MAGLEV_TABLE: u64 = 65_537;

/// Seed of the key hash that ring, jump, Maglev and hash-mod route on.
pub(crate) const KEY_SEED: u64 = 0x6661_756c_746c_696e; // "faultlin"

/// The 64-bit hash of a key that the hashing schemes route on.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, KEY_SEED)
}

/// How keys are spread over nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Consistent hashing: each node gets `vnodes` points on a 64-bit circle; a key belongs to
    /// the first point clockwise from its hash.
    Ring {
        /// Points a node gets on the circle (1..=[`ring::MAX_VNODES`], fewer past
        /// [`ring::MAX_POINTS`] in all; ketama uses 160).
        vnodes: u32,
    },
    /// Jump consistent hash over the nodes in list order; only the last node may leave.
    Jump,
    /// Highest random weight: every node scores the key, the highest score wins.
    Rendezvous,
    /// Maglev's lookup table, filled from each node's permutation of the table slots.
    Maglev {
        /// Slots in the table: a prime, at least the number of nodes (65,537 by default).
        table: u64,
    },
    /// `hash(key) % n` over the nodes in list order.
    HashMod,
    /// Ranges of raw key bytes: `key < bounds[0]` goes to node 0, `bounds[i - 1] <= key <
    /// bounds[i]` to node `i`, and `key >= bounds[n - 2]` to the last node.
    Range {
        /// Split points, strictly ascending, one fewer than the nodes.
        bounds: Vec<Vec<u8>>,
    },
    /// An explicit tenant -> node table; the tenant is the key up to its first `:`.
    Directory {
        /// Where each tenant lives; every node named must be in the node list.
        tenants: BTreeMap<String, Node>,
        /// Where unknown tenants go; if `None`, an unknown tenant is jump-hashed over the nodes.
        default: Option<Node>,
    },
}

impl Scheme {
    /// A ketama-style ring with [`DEFAULT_VNODES`] points a node.
    pub fn ring() -> Self {
        Scheme::Ring { vnodes: DEFAULT_VNODES }
    }

    /// A Maglev table of [`DEFAULT_MAGLEV_TABLE`] slots.
    pub fn maglev() -> Self {
        Scheme::Maglev { table: DEFAULT_MAGLEV_TABLE }
    }

    /// The scheme's short name, as [`Sharder::scheme_name`] reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Ring { .. } => "ring",
            Scheme::Jump => "jump",
            Scheme::Rendezvous => "rendezvous",
            Scheme::Maglev { .. } => "maglev",
            Scheme::HashMod => "hashmod",
            Scheme::Range { .. } => "range",
            Scheme::Directory { .. } => "directory",
        }
    }
}

/// What a bad scheme, node list, add or remove can be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The node list is empty: every key needs an owner.
    #[error("a sharder needs at least one node")]
    NoNodes,
    /// A node's name is empty.
    #[error("node {index} has an empty name")]
    EmptyName {
        /// The node's position in the list.
        index: usize,
    },
    /// Two nodes have the same name (nodes are identified by name).
    #[error("node `{node}` appears twice")]
    Duplicate {
        /// The repeated name.
        node: Node,
    },
    /// `remove` named a node that is not in the list.
    #[error("no node named `{node}`")]
    UnknownNode {
        /// The name asked for.
        node: String,
    },
    /// `remove` would leave no node at all.
    #[error("cannot remove `{node}`: it is the last node, and every key needs an owner")]
    LastNode {
        /// The node that would have left.
        node: Node,
    },
    /// A ring's virtual node count is out of range (the ring's total size is capped too).
    #[error("a ring of {nodes} nodes needs 1..={max} virtual nodes a node, got {vnodes}")]
    Vnodes {
        /// The count given.
        vnodes: u32,
        /// The node count.
        nodes: usize,
        /// The largest count accepted for that many nodes.
        max: u32,
    },
    /// Jump hash only lets the last bucket go: removing another would renumber the buckets after
    /// it and move their keys too.
    #[error(
        "jump hash can only remove its last node (`{last}`), not `{node}`: buckets are numbered, and \
         removing one from the middle would move the keys of every bucket after it"
    )]
    JumpNotLast {
        /// The node asked to leave.
        node: Node,
        /// The only node that may leave.
        last: Node,
    },
    /// A Maglev table size is not a prime.
    #[error("a Maglev table size must be prime, and {table} is not")]
    TableNotPrime {
        /// The size given.
        table: u64,
    },
    /// A Maglev table size is smaller than the node count or larger than the cap.
    #[error("a Maglev table for {nodes} nodes needs {nodes}..={max} slots, got {table}")]
    TableSize {
        /// The size given.
        table: u64,
        /// The node count.
        nodes: usize,
        /// The largest size accepted.
        max: u64,
    },
    /// Range bounds do not number one fewer than the nodes.
    #[error("{nodes} range nodes need {} split points, got {bounds}", nodes - 1)]
    RangeBoundCount {
        /// Split points given.
        bounds: usize,
        /// Nodes given.
        nodes: usize,
    },
    /// Range bounds are not strictly ascending.
    #[error("range split point {index} is not greater than the one before it")]
    RangeUnsorted {
        /// The position of the first bound out of order.
        index: usize,
    },
    /// Range nodes cannot be added: the new range's split point must come from configuration.
    #[error(
        "cannot add `{node}` to a range sharder: ranges are resplit by configuration (build a new sharder with its split point)"
    )]
    RangeAdd {
        /// The node that was to join.
        node: Node,
    },
    /// A directory names a node that is not in the node list.
    #[error("directory tenant `{tenant}` names `{node}`, which is not a node")]
    DirectoryUnknownNode {
        /// The tenant (or `*` for the default).
        tenant: String,
        /// The name that was not found.
        node: Node,
    },
    /// A directory tenant name can never match a key.
    #[error("directory tenant `{tenant}` can never match a key: a tenant is non-empty and has no `:`")]
    DirectoryBadTenant {
        /// The tenant name.
        tenant: String,
    },
    /// A directory node still has tenants (or is the default) and cannot leave.
    #[error("cannot remove `{node}`: the directory still sends tenant `{tenant}` to it; move its tenants first")]
    DirectoryInUse {
        /// The node asked to leave.
        node: Node,
        /// A tenant that lives on it (`*` for the default).
        tenant: String,
    },
}

/// A scheme's routing state, built from the node list.
#[derive(Debug, Clone)]
enum Route {
    Ring(ring::Ring),
    Jump,
    Rendezvous(rendezvous::Rendezvous),
    Maglev(maglev::Maglev),
    HashMod,
    Range(range::Range),
    Directory(directory::Directory),
}

/// Routes keys to nodes under one [`Scheme`].
#[derive(Debug, Clone)]
pub struct Sharder {
    scheme: Scheme,
    nodes: Vec<Node>,
    route: Route,
}

impl Sharder {
    /// Checks the scheme against the nodes and builds its routing state.
    pub fn new(scheme: Scheme, nodes: Vec<Node>) -> Result<Self, ShardError> {
        check_nodes(&nodes)?;
        let route = match &scheme {
            Scheme::Ring { vnodes } => Route::Ring(ring::Ring::build(&nodes, *vnodes)?),
            Scheme::Jump => Route::Jump,
            Scheme::Rendezvous => Route::Rendezvous(rendezvous::Rendezvous::build(&nodes)),
            Scheme::Maglev { table } => Route::Maglev(maglev::Maglev::build(&nodes, *table)?),
            Scheme::HashMod => Route::HashMod,
            Scheme::Range { bounds } => Route::Range(range::Range::build(&nodes, bounds)?),
            Scheme::Directory { tenants, default } => {
                Route::Directory(directory::Directory::build(&nodes, tenants, default.as_ref())?)
            }
        };
        Ok(Sharder { scheme, nodes, route })
    }

    /// The node that owns `key`. Allocates nothing.
    pub fn owner(&self, key: &[u8]) -> &Node {
        &self.nodes[self.owner_index(key)]
    }

    /// The position in [`Sharder::nodes`] of the node that owns `key`.
    pub fn owner_index(&self, key: &[u8]) -> usize {
        let index = match &self.route {
            Route::Ring(ring) => ring.owner(key_hash(key)),
            Route::Jump => jump::bucket(key_hash(key), self.nodes.len()),
            Route::Rendezvous(rendezvous) => rendezvous.owner(key),
            Route::Maglev(maglev) => maglev.owner(key_hash(key)),
            Route::HashMod => hashmod::bucket(key_hash(key), self.nodes.len()),
            Route::Range(range) => range.owner(key),
            Route::Directory(directory) => directory.owner(key, self.nodes.len()),
        };
        debug_assert!(index < self.nodes.len(), "an owner is always one of the nodes");
        index
    }

    /// The nodes, in the order given (joiners appended at the end).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The scheme this sharder routes by (range bounds updated by removals).
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The scheme's short name: `ring`, `jump`, `rendezvous`, `maglev`, `hashmod`, `range` or
    /// `directory`.
    pub fn scheme_name(&self) -> &'static str {
        self.scheme.name()
    }

    /// Adds a node at the end of the list. Ring, rendezvous, jump and Maglev move keys only to it
    /// (Maglev nearly so); hash-mod reshuffles almost everything; a directory moves only unknown
    /// tenants it jump-hashes; a range sharder refuses ([`ShardError::RangeAdd`]): where the new
    /// range starts is a configuration decision.
    pub fn add(&mut self, node: Node) -> Result<(), ShardError> {
        if let Scheme::Range { .. } = self.scheme {
            return Err(ShardError::RangeAdd { node });
        }
        let mut nodes = self.nodes.clone();
        nodes.push(node);
        *self = Sharder::new(self.scheme.clone(), nodes)?;
        Ok(())
    }

    /// Removes a node. Jump hash accepts only the last node ([`ShardError::JumpNotLast`]); a
    /// range's keys go to the range before it (the first range's to the second); a directory
    /// refuses while a tenant or the default still names the node.
    pub fn remove(&mut self, node: &str) -> Result<(), ShardError> {
        let index = self.position(node)?;
        if self.nodes.len() == 1 {
            return Err(ShardError::LastNode { node: self.nodes[0].clone() });
        }
        let scheme = match &self.scheme {
            Scheme::Jump if index + 1 != self.nodes.len() => {
                let last = self.nodes[self.nodes.len() - 1].clone();
                return Err(ShardError::JumpNotLast { node: self.nodes[index].clone(), last });
            }
            Scheme::Range { bounds } => Scheme::Range { bounds: range::without(bounds, index) },
            Scheme::Directory { tenants, default } => {
                directory::check_unused(&self.nodes[index], tenants, default.as_ref())?;
                self.scheme.clone()
            }
            Scheme::Ring { .. } | Scheme::Jump | Scheme::Rendezvous | Scheme::Maglev { .. } | Scheme::HashMod => {
                self.scheme.clone()
            }
        };
        let mut nodes = self.nodes.clone();
        nodes.remove(index);
        *self = Sharder::new(scheme, nodes)?;
        Ok(())
    }

    fn position(&self, node: &str) -> Result<usize, ShardError> {
        self.nodes.iter().position(|n| &**n == node).ok_or_else(|| ShardError::UnknownNode { node: node.to_owned() })
    }
}

/// A node list is non-empty, with non-empty, distinct names.
fn check_nodes(nodes: &[Node]) -> Result<(), ShardError> {
    if nodes.is_empty() {
        return Err(ShardError::NoNodes);
    }
    if let Some(index) = nodes.iter().position(|n| n.is_empty()) {
        return Err(ShardError::EmptyName { index });
    }
    let mut names: Vec<&str> = nodes.iter().map(|n| &**n).collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w[0] == w[1]) {
        Some(pair) => Err(ShardError::Duplicate { node: Node::from(pair[0]) }),
        None => Ok(()),
    }
}
