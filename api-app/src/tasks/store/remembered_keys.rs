//! The in-memory store's idempotency keys: each key with its create's fingerprint and task until it
//! expires, and never more than [`MAX_REMEMBERED_KEYS`] of them; past that the oldest is forgotten
//! first, so a flood of keyed creates costs bounded memory (a few hundred bytes a key).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::port::StoreError;
use crate::tasks::idempotency::{Fingerprint, IdempotencyKey, KeyedCreate};
use crate::tasks::model::Task;

/// Most keys the in-memory store remembers at once.
pub(crate) const MAX_REMEMBERED_KEYS: usize = 65_536;

#[derive(Debug)]
struct Remembered {
    fingerprint: Fingerprint,
    task: Task,
    expires: Instant,
}

/// Keys, and the order they were stored in. Every key lives as long (one `IDEMPOTENCY_KEY_TTL_SECS`
/// per process), so the front of `order` always expires first and forgetting costs O(1) per key.
#[derive(Debug)]
pub(crate) struct RememberedKeys {
    keys: HashMap<IdempotencyKey, Remembered>,
    order: VecDeque<(Instant, IdempotencyKey)>,
    capacity: usize,
}

impl Default for RememberedKeys {
    fn default() -> Self {
        Self::with_capacity(MAX_REMEMBERED_KEYS)
    }
}

impl RememberedKeys {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            keys: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// What a keyed create finds at `now`: the task to replay, `KeyReused` when the key came with
    /// another body, or `None` for a key that is new (or expired).
    pub(crate) fn look_up(
        &mut self,
        once: &KeyedCreate,
        now: Instant,
    ) -> Result<Option<Task>, StoreError> {
        self.forget_expired(now);
        match self.keys.get(&once.key) {
            Some(seen) if seen.expires > now && seen.fingerprint == once.fingerprint => {
                Ok(Some(seen.task.clone()))
            }
            Some(seen) if seen.expires > now => Err(StoreError::KeyReused),
            _ => Ok(None),
        }
    }

    /// Remembers the task a keyed create made, until `now` plus the key's TTL.
    pub(crate) fn remember(&mut self, once: KeyedCreate, task: Task, now: Instant) {
        while self.keys.len() >= self.capacity {
            let Some((expires, key)) = self.order.pop_front() else {
                break;
            };
            self.forget(expires, &key);
        }
        let expires = now + once.ttl;
        self.order.push_back((expires, once.key.clone()));
        self.keys.insert(
            once.key,
            Remembered {
                fingerprint: once.fingerprint,
                task,
                expires,
            },
        );
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some((expires, _)) = self.order.front()
            && *expires <= now
        {
            if let Some((expires, key)) = self.order.pop_front() {
                self.forget(expires, &key);
            }
        }
    }

    /// Drops `key` if it is still the entry that expires at `expires` (not a newer one).
    fn forget(&mut self, expires: Instant, key: &IdempotencyKey) {
        if self.keys.get(key).is_some_and(|k| k.expires == expires) {
            self.keys.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::tasks::idempotency::IdempotencySettings;
    use crate::tasks::model::NewTask;

    fn new_task(title: &str) -> NewTask {
        NewTask::for_tests(title, false)
    }

    fn task(new: &NewTask) -> Task {
        let now = OffsetDateTime::now_utc();
        Task {
            id: Uuid::new_v4(),
            title: new.title.clone(),
            completed: new.completed,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn keyed(key: &str, new: &NewTask) -> KeyedCreate {
        let settings = IdempotencySettings {
            ttl: Duration::from_mins(1),
        };
        settings.keyed(IdempotencyKey::parse(key.as_bytes()).unwrap(), new)
    }

    #[test]
    fn the_same_key_replays_another_body_is_refused_and_an_expired_key_is_new() {
        let mut keys = RememberedKeys::default();
        let now = Instant::now();
        let body = new_task("a");
        assert_eq!(keys.look_up(&keyed("k", &body), now), Ok(None));
        let first = task(&body);
        keys.remember(keyed("k", &body), first.clone(), now);
        assert_eq!(keys.look_up(&keyed("k", &body), now), Ok(Some(first)));
        assert_eq!(
            keys.look_up(&keyed("k", &new_task("b")), now),
            Err(StoreError::KeyReused)
        );
        let later = now + Duration::from_mins(1);
        assert_eq!(keys.look_up(&keyed("k", &new_task("b")), later), Ok(None));
        assert_eq!(keys.len(), 0, "expired keys are forgotten");
    }

    #[test]
    fn at_capacity_the_oldest_key_is_forgotten_first() {
        let mut keys = RememberedKeys::with_capacity(3);
        let now = Instant::now();
        let body = new_task("a");
        for (i, key) in ["k0", "k1", "k2", "k3"].into_iter().enumerate() {
            let at = now + Duration::from_millis(u64::try_from(i).unwrap());
            keys.remember(keyed(key, &body), task(&body), at);
        }
        assert_eq!(keys.len(), 3, "never more than the capacity");
        assert_eq!(keys.look_up(&keyed("k0", &body), now), Ok(None));
        assert!(keys.look_up(&keyed("k3", &body), now).unwrap().is_some());
        assert!(keys.look_up(&keyed("k1", &body), now).unwrap().is_some());
    }
}
