//! Intrusive doubly-linked lists over the L1 cache's slab, and the plain LRU policy.
//!
//! The cache keeps its entries in a slab (a `Vec` indexed by slot number); every slot has a
//! [`Node`] with two pairs of links, one for the access order (the policy's lists) and one for
//! the write order (the TTL queue). A [`Deque`] is a list threaded through one lane of those
//! links: push at the back, unlink anywhere and move to the back are all O(1), and nothing is
//! allocated. [`Lru`] is the simplest policy on top: one list, a hit moves to the back, the front
//! is evicted past the capacity.
//!
//! This file must not know about keys, values or time, nor decide admission: it moves slot
//! numbers between lists.

/// The end of a list (no slot).
pub(crate) const NIL: u32 = u32::MAX;

/// A slot's neighbours in one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Links {
    prev: u32,
    next: u32,
}

impl Links {
    const DETACHED: Links = Links { prev: NIL, next: NIL };
}

/// Which pair of a node's links a list threads through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// The policy's recency lists (LRU, or window, probation and protected).
    Access,
    /// The write order, which is the expiry order under one TTL.
    Write,
}

/// The per-slot bookkeeping the lists and the policy need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    access: Links,
    write: Links,
    /// The key's 64-bit hash (for the frequency sketch).
    pub(crate) hash: u64,
}

impl Node {
    /// A node in no list.
    pub(crate) fn new(hash: u64) -> Self {
        Self { access: Links::DETACHED, write: Links::DETACHED, hash }
    }

    fn links(&mut self, lane: Lane) -> &mut Links {
        match lane {
            Lane::Access => &mut self.access,
            Lane::Write => &mut self.write,
        }
    }
}

/// A doubly-linked list of slots threaded through one lane of the nodes' links.
#[derive(Debug, Clone)]
pub(crate) struct Deque {
    head: u32,
    tail: u32,
    len: usize,
    lane: Lane,
}

impl Deque {
    /// An empty list over `lane`.
    pub(crate) fn new(lane: Lane) -> Self {
        Self { head: NIL, tail: NIL, len: 0, lane }
    }

    /// Slots in the list.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The oldest slot (least recently pushed or moved), if any.
    pub(crate) fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// Appends a slot that is in no list of this lane.
    pub(crate) fn push_back(&mut self, nodes: &mut [Node], slot: u32) {
        let lane = self.lane;
        *nodes[slot as usize].links(lane) = Links { prev: self.tail, next: NIL };
        if self.tail == NIL {
            self.head = slot;
        } else {
            nodes[self.tail as usize].links(lane).next = slot;
        }
        self.tail = slot;
        self.len += 1;
    }

    /// Takes a slot out of this list (it must be in it).
    pub(crate) fn unlink(&mut self, nodes: &mut [Node], slot: u32) {
        let lane = self.lane;
        let Links { prev, next } = *nodes[slot as usize].links(lane);
        if prev == NIL {
            debug_assert_eq!(self.head, slot, "unlinking a slot that is not in this list");
            self.head = next;
        } else {
            nodes[prev as usize].links(lane).next = next;
        }
        if next == NIL {
            debug_assert_eq!(self.tail, slot, "unlinking a slot that is not in this list");
            self.tail = prev;
        } else {
            nodes[next as usize].links(lane).prev = prev;
        }
        *nodes[slot as usize].links(lane) = Links::DETACHED;
        self.len -= 1;
    }

    /// Moves a slot of this list to the back.
    pub(crate) fn move_to_back(&mut self, nodes: &mut [Node], slot: u32) {
        if self.tail != slot {
            self.unlink(nodes, slot);
            self.push_back(nodes, slot);
        }
    }

    /// Empties the list (the nodes' links are left stale: the caller drops them all).
    pub(crate) fn clear(&mut self) {
        self.head = NIL;
        self.tail = NIL;
        self.len = 0;
    }

    /// The slots from front to back (tests only: walking is O(n)).
    #[cfg(test)]
    pub(crate) fn slots(&self, nodes: &mut [Node]) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len);
        let mut at = self.head;
        while at != NIL {
            out.push(at);
            assert!(out.len() <= self.len, "list longer than its count: a cycle");
            at = nodes[at as usize].links(self.lane).next;
        }
        assert_eq!(out.len(), self.len);
        out
    }
}

/// What a policy dropped to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// A resident entry evicted for space; the slot is already out of the access lists.
    Evicted(u32),
    /// A candidate refused by admission; the slot is already out of the access lists.
    Rejected(u32),
}

/// Least recently used: one list, hits move to the back, the front goes past the capacity.
#[derive(Debug, Clone)]
pub(crate) struct Lru {
    order: Deque,
    capacity: usize,
}

impl Lru {
    /// An empty LRU of `capacity` entries (at least 1; the cache handles 0 itself).
    pub(crate) fn new(capacity: usize) -> Self {
        Self { order: Deque::new(Lane::Access), capacity: capacity.max(1) }
    }

    /// A hit or an overwrite: the slot becomes the most recent.
    pub(crate) fn on_hit(&mut self, nodes: &mut [Node], slot: u32) {
        self.order.move_to_back(nodes, slot);
    }

    /// A new slot; evicts the least recent one if the list is now over capacity.
    pub(crate) fn on_insert(&mut self, nodes: &mut [Node], slot: u32) -> Option<Removal> {
        self.order.push_back(nodes, slot);
        if self.order.len() <= self.capacity {
            return None;
        }
        let victim = self.order.front().expect("a list over capacity is not empty");
        self.order.unlink(nodes, victim);
        Some(Removal::Evicted(victim))
    }

    /// A slot removed by the cache (invalidated or expired).
    pub(crate) fn on_remove(&mut self, nodes: &mut [Node], slot: u32) {
        self.order.unlink(nodes, slot);
    }

    /// Forgets every slot.
    pub(crate) fn clear(&mut self) {
        self.order.clear();
    }

    /// The slots from least to most recent (tests only).
    #[cfg(test)]
    pub(crate) fn slots(&self, nodes: &mut [Node]) -> Vec<u32> {
        self.order.slots(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<Node> {
        (0..n as u64).map(Node::new).collect()
    }

    #[test]
    fn deque_pushes_unlinks_and_moves() {
        let mut nodes = nodes(5);
        let mut deque = Deque::new(Lane::Access);
        for slot in 0..5 {
            deque.push_back(&mut nodes, slot);
        }
        deque.unlink(&mut nodes, 0);
        deque.unlink(&mut nodes, 4);
        deque.unlink(&mut nodes, 2);
        assert_eq!(deque.slots(&mut nodes), vec![1, 3]);
        deque.move_to_back(&mut nodes, 1);
        assert_eq!(deque.slots(&mut nodes), vec![3, 1]);
        assert_eq!(deque.front(), Some(3));
        deque.unlink(&mut nodes, 3);
        deque.unlink(&mut nodes, 1);
        assert_eq!(deque.front(), None);
        assert_eq!(deque.len(), 0);
    }

    #[test]
    fn the_two_lanes_are_independent() {
        let mut nodes = nodes(3);
        let mut access = Deque::new(Lane::Access);
        let mut write = Deque::new(Lane::Write);
        for slot in 0..3 {
            access.push_back(&mut nodes, slot);
            write.push_back(&mut nodes, 2 - slot);
        }
        access.move_to_back(&mut nodes, 0);
        assert_eq!(access.slots(&mut nodes), vec![1, 2, 0]);
        assert_eq!(write.slots(&mut nodes), vec![2, 1, 0]);
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut nodes = nodes(4);
        let mut lru = Lru::new(3);
        for slot in 0..3 {
            assert_eq!(lru.on_insert(&mut nodes, slot), None);
        }
        lru.on_hit(&mut nodes, 0);
        assert_eq!(lru.on_insert(&mut nodes, 3), Some(Removal::Evicted(1)));
        assert_eq!(lru.slots(&mut nodes), vec![2, 0, 3]);
    }
}
