//! The routing table's storage: entries of one kind side by side in a
//! vector ([`Slab`]), found by hash through tables of their 4-byte indices
//! ([`Index`]).
//!
//! Why not `HashMap<K, V>`: a hash map keeps room for up to twice its
//! entries, each bucket the size of a key and a value (a client's address
//! alone is 32 bytes), and a second way to find an entry means a second
//! copy of it. Here each entry sits once, densely, and each way to find it
//! costs a bucket of 4 bytes. That is what keeps the data path's memory per
//! allocation at what the relay spent before it had one
//! (`docs/BENCHMARKS.md`, "Memory per allocation").
//!
//! A freed slot is reused; its generation changes, so that a [`Key`] kept
//! for the old entry finds nothing rather than its successor.

use hashbrown::HashTable;

/// Names one entry of a [`Slab`] for as long as it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// The entry's place in its slab (what an [`Index`] holds).
    pub fn index(self) -> u32 {
        self.index
    }
}

#[derive(Debug)]
struct Slot<T> {
    /// Bumped each time the slot is freed.
    generation: u32,
    value: Option<T>,
}

/// Entries of one kind, by [`Key`] or by index.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Freed slots, reused first.
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value`; `None` only past 2^32 slots.
    pub fn insert(&mut self, value: T) -> Option<Key> {
        let key = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.value = Some(value);
                Key {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: 0,
                    value: Some(value),
                });
                Key {
                    index,
                    generation: 0,
                }
            }
        };
        self.len += 1;
        Some(key)
    }

    /// The entry `key` names, if it still lives.
    pub fn get(&self, key: Key) -> Option<&T> {
        self.slots
            .get(key.index as usize)
            .filter(|s| s.generation == key.generation)
            .and_then(|s| s.value.as_ref())
    }

    /// The entry `key` names, to change, if it still lives.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation)
            .and_then(|s| s.value.as_mut())
    }

    /// The entry at `index` (as an [`Index`] names it) and its key.
    pub fn at(&self, index: u32) -> Option<(Key, &T)> {
        let slot = self.slots.get(index as usize)?;
        let key = Key {
            index,
            generation: slot.generation,
        };
        slot.value.as_ref().map(|v| (key, v))
    }

    /// Takes the entry `key` names out; its slot is reused later under
    /// another generation.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self
            .slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation)?;
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Every live entry.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        (0..self.slots.len()).filter_map(|i| self.at(i as u32))
    }

    /// The keys of the live entries `pred` picks (to remove them, with
    /// their indexes, afterwards).
    pub fn keys_where(&self, pred: impl Fn(&T) -> bool) -> Vec<Key> {
        self.iter()
            .filter(|(_, v)| pred(v))
            .map(|(k, _)| k)
            .collect()
    }

    /// How many entries live.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// One way to find a [`Slab`]'s entries: their indices, by the hash of
/// what they are looked up by. The caller hashes (with one hasher per
/// table) and says what matches; the index never holds a removed entry,
/// because the caller removes it here before taking it out of the slab.
#[derive(Debug, Default)]
pub struct Index(HashTable<u32>);

impl Index {
    /// The entry with `hash` that `matches`.
    pub fn find<'s, T>(
        &self,
        slab: &'s Slab<T>,
        hash: u64,
        matches: impl Fn(&T) -> bool,
    ) -> Option<(Key, &'s T)> {
        let index = self
            .0
            .find(hash, |&i| slab.at(i).is_some_and(|(_, v)| matches(v)))?;
        slab.at(*index)
    }

    /// Adds the entry `key` names, whose hash is `hash`; `hash_of` hashes
    /// the others again when the table grows.
    pub fn insert<T>(&mut self, slab: &Slab<T>, key: Key, hash: u64, hash_of: impl Fn(&T) -> u64) {
        self.0.insert_unique(hash, key.index, |&i| {
            slab.at(i).map_or(0, |(_, v)| hash_of(v))
        });
    }

    /// Forgets the entry `key` names, whose hash is `hash`.
    pub fn remove(&mut self, key: Key, hash: u64) {
        if let Ok(entry) = self.0.find_entry(hash, |&i| i == key.index) {
            entry.remove();
        }
    }

    /// How many entries it finds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_freed_slot_is_reused_under_another_generation() {
        let mut slab = Slab::default();
        let a = slab.insert("a").unwrap();
        let b = slab.insert("b").unwrap();
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None, "removed once");
        let c = slab.insert("c").unwrap();
        assert_eq!(c.index(), a.index(), "the slot is reused");
        assert_eq!(slab.get(a), None, "the old key finds nothing");
        assert_eq!(slab.get(c), Some(&"c"));
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 2);
        let mut all: Vec<_> = slab.iter().map(|(_, v)| *v).collect();
        all.sort_unstable();
        assert_eq!(all, ["b", "c"]);
    }

    proptest::proptest! {
        /// Whatever is inserted and removed, the slab and an index over it
        /// find exactly what a `HashMap` would.
        #[test]
        fn finds_what_a_hash_map_finds(ops in proptest::collection::vec((proptest::bool::ANY, 0u16..40), 0..300)) {
            let hasher = foldhash::fast::RandomState::default();
            let mut slab: Slab<u16> = Slab::default();
            let mut index = Index::default();
            let mut model = std::collections::HashMap::new();
            for (add, k) in ops {
                let hash = hasher.hash_one(k);
                let found = index.find(&slab, hash, |v| *v == k).map(|(key, _)| key);
                proptest::prop_assert_eq!(found, model.get(&k).copied());
                if add && found.is_none() {
                    let key = slab.insert(k).unwrap();
                    index.insert(&slab, key, hash, |v| hasher.hash_one(*v));
                    model.insert(k, key);
                } else if !add && let Some(key) = found {
                    index.remove(key, hash);
                    proptest::prop_assert_eq!(slab.remove(key), Some(k));
                    model.remove(&k);
                }
                proptest::prop_assert_eq!(slab.len(), model.len());
                proptest::prop_assert_eq!(index.len(), model.len());
            }
        }
    }
}
