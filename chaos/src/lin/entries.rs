//! The entry list of one key's search: every operation's call and return, in time order, as a
//! doubly linked list that linearized operations are lifted out of and put back into (dancing
//! links: a lifted entry keeps its own links, so putting it back is O(1)).
//!
//! Owns: [`Links`]. Must not: decide anything (see `search`).

use super::model::Prepared;

/// The head sentinel's node.
pub(crate) const HEAD: usize = 0;
/// "No node".
pub(crate) const NIL: usize = usize::MAX;

/// The call and return entries as a doubly linked list; node 0 is the head sentinel.
pub(crate) struct Links {
    pub(crate) next: Vec<usize>,
    prev: Vec<usize>,
    /// The operation of each entry.
    pub(crate) op: Vec<usize>,
    /// For a call, its return's node; for a return (and the head), `NIL`.
    partner: Vec<usize>,
}

impl Links {
    pub(crate) fn new(ops: &[Prepared]) -> Links {
        let mut entries: Vec<(u64, bool, usize)> =
            ops.iter().enumerate().flat_map(|(i, p)| [(p.invoke, false, i), (p.deadline, true, i)]).collect();
        // At equal times calls come first: touching operations count as concurrent.
        entries.sort_unstable();
        let len = entries.len() + 1;
        let mut links = Links {
            next: (1..=len).map(|n| if n == len { NIL } else { n }).collect(),
            prev: (0..len).map(|n| n.wrapping_sub(1)).collect(),
            op: std::iter::once(NIL).chain(entries.iter().map(|e| e.2)).collect(),
            partner: vec![NIL; len],
        };
        let mut call_of = vec![NIL; ops.len()];
        for (k, &(_, is_return, op)) in entries.iter().enumerate() {
            if is_return {
                links.partner[call_of[op]] = k + 1;
            } else {
                call_of[op] = k + 1;
            }
        }
        links
    }

    pub(crate) fn is_call(&self, node: usize) -> bool {
        self.partner[node] != NIL
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    /// Takes a call and its return out of the list.
    pub(crate) fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.partner[call]);
    }

    /// Undoes the matching [`Links::lift`] (lifts are undone in reverse order).
    pub(crate) fn unlift(&mut self, call: usize) {
        self.relink(self.partner[call]);
        self.relink(call);
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::RegOp;
    use super::*;

    fn walk(links: &Links) -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        let mut node = links.next[HEAD];
        while node != NIL {
            out.push((links.op[node], links.is_call(node)));
            node = links.next[node];
        }
        out
    }

    #[test]
    fn entries_are_in_time_order_calls_first_and_lift_is_undone_exactly() {
        let p = |source, invoke, deadline| Prepared { source, op: RegOp::Write(0), invoke, deadline };
        let mut links = Links::new(&[p(0, 0, 5), p(1, 5, 6), p(2, 1, 2)]);
        let all = vec![(0, true), (2, true), (2, false), (1, true), (0, false), (1, false)];
        assert_eq!(walk(&links), all, "a call at 5 comes before a return at 5");
        let call_of_2 = links.next[links.next[HEAD]];
        links.lift(call_of_2);
        assert_eq!(walk(&links), vec![(0, true), (1, true), (0, false), (1, false)]);
        links.lift(links.next[HEAD]);
        assert_eq!(walk(&links), vec![(1, true), (1, false)]);
        links.unlift(1);
        links.unlift(call_of_2);
        assert_eq!(walk(&links), all);
    }
}
