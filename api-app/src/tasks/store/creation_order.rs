//! Task ids in creation order, cheap to page through and cheap to remove from at any size.
//!
//! A single ordered vector (or `IndexMap::shift_remove`) moves every later entry on each delete:
//! O(n) under the store's write lock, which at a large `MAX_TASKS` stalls every request. Here the ids sit
//! in chunks of at most [`CHUNK`]. A removal shifts at most one chunk's entries and, when two
//! neighbours merge, the chunk list: O(CHUNK + n / CHUNK). Neighbouring chunks always hold more
//! than CHUNK ids together (they are merged otherwise), so there are at most 2n / CHUNK + 1 chunks.

use uuid::Uuid;

/// Most ids in one chunk.
pub(crate) const CHUNK: usize = 1024;

/// Ids with their creation sequence numbers, in increasing sequence order.
#[derive(Debug, Default)]
pub(crate) struct CreationOrder {
    chunks: Vec<Vec<(u64, Uuid)>>,
    len: usize,
    /// Entries and chunk slots moved so far, so tests can bound a removal's work without a clock.
    moved: usize,
}

impl CreationOrder {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Appends `id`; `seq` must be greater than every sequence number already held.
    pub(crate) fn push(&mut self, seq: u64, id: Uuid) {
        debug_assert!(
            self.chunks
                .last()
                .and_then(|c| c.last())
                .is_none_or(|last| last.0 < seq)
        );
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push((seq, id)),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push((seq, id));
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Removes the entry with sequence number `seq`; false if there is none.
    pub(crate) fn remove(&mut self, seq: u64) -> bool {
        // Chunks are non-empty and ordered: the first whose last entry is >= seq holds it.
        let at = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|last| last.0 < seq));
        let Some(chunk) = self.chunks.get_mut(at) else {
            return false;
        };
        let Ok(i) = chunk.binary_search_by_key(&seq, |e| e.0) else {
            return false;
        };
        chunk.remove(i);
        let shifted = chunk.len() - i;
        self.len -= 1;
        self.note_moved(shifted);
        self.rebalance(at);
        true
    }

    /// Up to `limit` entries (sequence number, id) from position `offset`, in creation order. An
    /// offset at or past the end is answered without looking at a chunk.
    pub(crate) fn page(
        &self,
        offset: usize,
        limit: usize,
    ) -> impl Iterator<Item = (u64, Uuid)> + '_ {
        let mut skip = offset;
        let first = if offset >= self.len {
            self.chunks.len()
        } else {
            self.chunks
                .iter()
                .position(|c| {
                    if skip < c.len() {
                        true
                    } else {
                        skip -= c.len();
                        false
                    }
                })
                .unwrap_or(self.chunks.len())
        };
        self.entries(first, skip, limit)
    }

    /// Up to `limit` entries created after sequence number `seq`, in creation order: two binary
    /// searches, whatever the depth.
    pub(crate) fn page_after(
        &self,
        seq: u64,
        limit: usize,
    ) -> impl Iterator<Item = (u64, Uuid)> + '_ {
        // Chunks are non-empty and ordered: the first whose last entry is past `seq` holds the start.
        let first = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|last| last.0 <= seq));
        let skip = self
            .chunks
            .get(first)
            .map_or(0, |c| c.partition_point(|e| e.0 <= seq));
        self.entries(first, skip, limit)
    }

    /// Up to `limit` entries from entry `skip` of chunk `first` on.
    fn entries(
        &self,
        first: usize,
        skip: usize,
        limit: usize,
    ) -> impl Iterator<Item = (u64, Uuid)> + '_ {
        self.chunks[first..]
            .iter()
            .flatten()
            .skip(skip)
            .take(limit)
            .copied()
    }

    /// Drops chunk `at` if it is empty, or merges it into a neighbour when the two fit in one.
    fn rebalance(&mut self, at: usize) {
        if self.chunks[at].is_empty() {
            self.chunks.remove(at);
            self.note_moved(self.chunks.len() - at);
            return;
        }
        for (left, right) in [(at, at + 1), (at.wrapping_sub(1), at)] {
            let (Some(l), Some(r)) = (self.chunks.get(left), self.chunks.get(right)) else {
                continue;
            };
            if l.len() + r.len() <= CHUNK {
                let moved = self.chunks.remove(right);
                self.note_moved(moved.len() + self.chunks.len() - right);
                self.chunks[left].extend(moved);
                return;
            }
        }
    }

    fn note_moved(&mut self, n: usize) {
        self.moved = self.moved.wrapping_add(n);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn id(n: u64) -> Uuid {
        Uuid::from_u64_pair(0, n)
    }

    /// The shape the cost bounds rest on: no chunk empty or over [`CHUNK`], and every two
    /// neighbours together over [`CHUNK`] (or they would have been merged).
    fn chunk_sizes_hold(order: &CreationOrder) -> Result<(), String> {
        let sizes: Vec<usize> = order.chunks.iter().map(Vec::len).collect();
        if let Some(bad) = sizes.iter().find(|n| **n == 0 || **n > CHUNK) {
            return Err(format!("a chunk of {bad} ids"));
        }
        if let Some(pair) = sizes.windows(2).find(|w| w[0] + w[1] <= CHUNK) {
            return Err(format!("neighbours of {pair:?} ids not merged"));
        }
        Ok(())
    }

    #[test]
    fn removing_near_the_front_of_a_large_order_moves_little() {
        let n = 200_000_u64;
        let mut order = CreationOrder::default();
        for seq in 0..n {
            order.push(seq, id(seq));
        }
        let chunks = usize::try_from(n).unwrap().div_ceil(CHUNK);
        for seq in 0..100 {
            order.moved = 0;
            assert!(order.remove(seq * 7));
            // One chunk's entries plus, at worst, a merge: never the ~200 000 entries behind it.
            assert!(
                order.moved <= 2 * CHUNK + chunks,
                "removing {seq} moved {}",
                order.moved
            );
        }
        assert_eq!(order.len(), 200_000 - 100);
        assert!(!order.remove(0), "already removed");
    }

    #[test]
    fn a_removal_moves_exactly_the_entries_behind_it_in_its_chunk() {
        let mut order = CreationOrder::default();
        for seq in 0..3 * CHUNK as u64 {
            order.push(seq, id(seq));
        }
        // Entry 10 of the middle chunk: the 1013 behind it shift, and 1023 + 1024 ids cannot merge.
        assert!(order.remove(CHUNK as u64 + 10));
        assert_eq!(order.moved, CHUNK - 1 - 10);
        order.moved = 0;
        assert!(
            order.remove(2 * CHUNK as u64 - 1),
            "the middle chunk's last"
        );
        assert_eq!(order.moved, 0, "nothing is behind a chunk's last entry");
        // Emptying the last chunk drops it, and no chunk comes after it to shift.
        let mut order = CreationOrder::default();
        for seq in 0..=CHUNK as u64 {
            order.push(seq, id(seq));
        }
        assert!(order.remove(CHUNK as u64));
        assert_eq!((order.chunks.len(), order.moved), (1, 0));
        // A merge moves the right chunk's entries into the left and shifts the chunks after it.
        let mut order = CreationOrder::default();
        for seq in 0..CHUNK as u64 + 2 {
            order.push(seq, id(seq));
        }
        assert!(order.remove(0), "1023 + 2 ids: no merge yet");
        assert_eq!((order.chunks.len(), order.moved), (2, CHUNK - 1));
        order.moved = 0;
        assert!(order.remove(1), "1022 + 2 ids fit in one chunk");
        assert_eq!((order.chunks.len(), order.moved), (1, CHUNK - 2 + 2));
    }

    #[test]
    fn pages_run_across_chunk_boundaries() {
        let mut order = CreationOrder::default();
        for seq in 0..3 * CHUNK as u64 {
            order.push(seq, id(seq));
        }
        let page =
            |offset: usize, limit| order.page(offset, limit).map(|e| e.1).collect::<Vec<_>>();
        let ids = |seqs: std::ops::Range<usize>| seqs.map(|s| id(s as u64)).collect::<Vec<_>>();
        assert_eq!(page(CHUNK - 1, 3), ids(CHUNK - 1..CHUNK + 2));
        assert_eq!(page(2 * CHUNK + 5, 2), ids(2 * CHUNK + 5..2 * CHUNK + 7));
        assert_eq!(page(3 * CHUNK - 1, 5), ids(3 * CHUNK - 1..3 * CHUNK));
        assert!(page(3 * CHUNK, 5).is_empty());
    }

    #[test]
    fn chunks_stay_few_after_most_entries_are_removed() {
        let mut order = CreationOrder::default();
        for seq in 0..100_000 {
            order.push(seq, id(seq));
        }
        for seq in (0..100_000).filter(|s| s % 10 != 0) {
            assert!(order.remove(seq));
        }
        assert_eq!(order.len(), 10_000);
        assert_eq!(chunk_sizes_hold(&order), Ok(()));
        assert!(
            order.chunks.len() <= 2 * 10_000 / CHUNK + 1,
            "{}",
            order.chunks.len()
        );
        let page: Vec<Uuid> = order.page(5, 3).map(|e| e.1).collect();
        assert_eq!(page, [id(50), id(60), id(70)]);
    }

    proptest! {
        /// The order always pages exactly like a plain vector of the live ids.
        #[test]
        fn pages_match_a_plain_vector(
            // Three creates to each delete on average, so the order grows across several chunks.
            ops in proptest::collection::vec((0..4_u8, 0..3000_u64), 1..4000),
            offset in 0..3000_usize,
            limit in 1..1200_usize,
        ) {
            let mut order = CreationOrder::default();
            let mut model: Vec<u64> = Vec::new();
            let mut next = 0_u64;
            for (op, pick) in ops {
                if op > 0 || model.is_empty() {
                    order.push(next, id(next));
                    model.push(next);
                    next += 1;
                } else {
                    let victim = model.remove(usize::try_from(pick).unwrap() % model.len());
                    prop_assert!(order.remove(victim));
                }
            }
            prop_assert_eq!(order.len(), model.len());
            prop_assert_eq!(chunk_sizes_hold(&order), Ok(()));
            let got: Vec<Uuid> = order.page(offset, limit).map(|e| e.1).collect();
            let want: Vec<Uuid> = model.iter().skip(offset).take(limit).map(|s| id(*s)).collect();
            prop_assert_eq!(got, want);
        }
    }

    proptest! {
        /// Walking the cursors visits every entry that lives through the walk exactly once, in
        /// creation order, while entries are created and removed between pages; an entry removed
        /// during the walk is visited at most once.
        #[test]
        fn walking_cursors_visits_each_live_entry_once(
            initial in 0..3000_u64,
            limit in 1..400_usize,
            between in proptest::collection::vec((0..3_u8, 0..5000_usize), 0..80),
        ) {
            let mut order = CreationOrder::default();
            let mut live: std::collections::BTreeSet<u64> = (0..initial).collect();
            for seq in 0..initial {
                order.push(seq, id(seq));
            }
            let mut next = initial;
            let mut seen = Vec::new();
            let mut cursor: Option<u64> = None;
            let mut steps = between.into_iter();
            loop {
                let page: Vec<(u64, Uuid)> = match cursor {
                    None => order.page(0, limit).collect(),
                    Some(after) => order.page_after(after, limit).collect(),
                };
                let Some(last) = page.last() else { break };
                cursor = Some(last.0);
                seen.extend(page.iter().map(|e| e.0));
                match steps.next() {
                    Some((0, pick)) if !live.is_empty() => {
                        let victim = *live.iter().nth(pick % live.len()).unwrap();
                        live.remove(&victim);
                        prop_assert!(order.remove(victim));
                    }
                    Some(_) => {
                        order.push(next, id(next));
                        live.insert(next);
                        next += 1;
                    }
                    None => {}
                }
            }
            prop_assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, none twice");
            for seq in &live {
                prop_assert!(seen.binary_search(seq).is_ok(), "{seq} was never visited");
            }
        }

        /// A page after a cursor is the page a plain vector gives after that sequence number.
        #[test]
        fn pages_after_a_cursor_match_a_plain_vector(
            removed in proptest::collection::btree_set(0..3000_u64, 0..2500),
            after in 0..3100_u64,
            limit in 1..1200_usize,
        ) {
            let mut order = CreationOrder::default();
            for seq in 0..3000 {
                order.push(seq, id(seq));
            }
            for seq in &removed {
                prop_assert!(order.remove(*seq));
            }
            let got: Vec<u64> = order.page_after(after, limit).map(|e| e.0).collect();
            let want: Vec<u64> = (after + 1..3000)
                .filter(|s| !removed.contains(s))
                .take(limit)
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
