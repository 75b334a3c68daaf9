//! The throttles' memory: maps with a hard cap on their entries, keyed by a fixed-size key, so
//! that no stream of distinct addresses or clients can grow the process.
//!
//! Each map is split into shards, each shard into two generations: new keys enter the current
//! one, and when it is full it becomes the previous one and the old previous one is dropped
//! (outside the lock). A key found in the previous generation moves back to the current one,
//! so keys in use survive and idle ones age out. Nothing ever scans a map.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use governor::nanos::Nanos;
use governor::state::StateStore;

/// A fixed-size key: the digest of an email address, or a client's address.
pub type Key = [u8; 16];

const SHARDS: usize = 16;

/// A map of at most a fixed number of entries, the least recently used shed first.
pub struct BoundedMap<V> {
    shards: Box<[Mutex<Generations<V>>]>,
    per_generation: usize,
    hasher: RandomState,
}

struct Generations<V> {
    current: HashMap<Key, V>,
    previous: HashMap<Key, V>,
}

impl<V: Default> BoundedMap<V> {
    /// A map that never holds more than `max_entries` entries.
    pub fn new(max_entries: usize) -> BoundedMap<V> {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Generations {
                    current: HashMap::new(),
                    previous: HashMap::new(),
                })
            })
            .collect();
        BoundedMap {
            shards,
            per_generation: (max_entries / SHARDS / 2).max(1),
            hasher: RandomState::new(),
        }
    }

    /// Runs `f` on the entry of `key`, created with its default value if there is none.
    pub fn with<T>(&self, key: &Key, f: impl FnOnce(&mut V) -> T) -> T {
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut retired = None;
        let mut guard = shard.lock().expect("not poisoned");
        let generations = &mut *guard;
        if !generations.current.contains_key(key) {
            let value = generations.previous.remove(key).unwrap_or_default();
            if generations.current.len() >= self.per_generation {
                let full = std::mem::take(&mut generations.current);
                retired = Some(std::mem::replace(&mut generations.previous, full));
            }
            generations.current.insert(*key, value);
        }
        let answer = f(generations
            .current
            .get_mut(key)
            .expect("inserted just above"));
        drop(guard);
        // Freeing the retired generation's memory is the only work proportional to its size:
        // it happens after the lock is released.
        drop(retired);
        answer
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &Key) {
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut generations = shard.lock().expect("not poisoned");
        generations.current.remove(key);
        generations.previous.remove(key);
    }

    /// How many entries the map holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let generations = shard.lock().expect("not poisoned");
                generations.current.len() + generations.previous.len()
            })
            .sum()
    }
}

/// Governor's GCRA state, one time stamp per key (0: none yet), in a bounded map.
impl StateStore for BoundedMap<u64> {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.with(key, |state| {
            let previous = (*state != 0).then(|| Nanos::from(*state));
            let (answer, next) = f(previous)?;
            *state = next.as_u64();
            Ok(answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_never_holds_more_than_its_cap() {
        let map: BoundedMap<u32> = BoundedMap::new(1024);
        for i in 0u32..100_000 {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&i.to_le_bytes());
            map.with(&key, |v| *v += 1);
        }
        assert!(map.len() <= 1024, "{}", map.len());
    }

    #[test]
    fn a_key_in_use_survives_a_flood_of_new_keys() {
        let map: BoundedMap<u32> = BoundedMap::new(1024);
        let kept = [0xffu8; 16];
        for i in 0u32..100_000 {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&i.to_le_bytes());
            map.with(&key, |v| *v += 1);
            if i % 16 == 0 {
                map.with(&kept, |v| *v += 1);
            }
        }
        assert_eq!(map.with(&kept, |v| *v), 6250);
    }
}
