//! Joining the segments of a concatenated message (3GPP TS 23.040
//! §9.2.3.24.1). Pure bookkeeping: persistence and time-outs for incomplete
//! messages belong to the store, which can keep its own rows and call
//! [`join_in_order`], or keep a [`Reassembler`] in memory.

use std::collections::{BTreeMap, HashMap};

/// Joins segment texts by sequence number. When the same sequence number
/// appears twice (a re-delivered PDU) the first copy is kept.
pub fn join_in_order<'a>(parts: impl IntoIterator<Item = (u8, &'a str)>) -> String {
    let mut by_seq: BTreeMap<u8, &str> = BTreeMap::new();
    for (seq, text) in parts {
        by_seq.entry(seq).or_insert(text);
    }
    by_seq.into_values().collect()
}

/// Identifies one concatenated message: segments with the same sender,
/// reference and total belong together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    /// Sender as displayed (see [`super::Address::to_display`]).
    pub sender: String,
    /// Concatenation reference (8- or 16-bit).
    pub reference: u16,
    /// Number of segments.
    pub total: u8,
}

/// One received segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Which message it belongs to.
    pub key: MessageKey,
    /// Its sequence number, 1..=total.
    pub seq: u8,
    /// Its text.
    pub text: String,
}

/// What pushing a segment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// All segments are in: the joined text. The message is forgotten.
    Complete {
        /// Which message.
        key: MessageKey,
        /// Text of all segments in order.
        text: String,
    },
    /// Still waiting for segments.
    Waiting {
        /// Segments held.
        have: usize,
        /// Segments expected.
        total: u8,
    },
    /// A segment with this sequence number was already held.
    Duplicate,
    /// Sequence number 0 or above the total; ignored.
    Invalid,
}

/// In-memory reassembly of concatenated messages.
#[derive(Debug, Default, Clone)]
pub struct Reassembler {
    pending: HashMap<MessageKey, BTreeMap<u8, String>>,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a segment; returns the whole text once every segment is held.
    pub fn push(&mut self, fragment: Fragment) -> PushOutcome {
        let Fragment { key, seq, text } = fragment;
        if seq == 0 || seq > key.total {
            return PushOutcome::Invalid;
        }
        let total = key.total;
        let segments = self.pending.entry(key.clone()).or_default();
        if segments.contains_key(&seq) {
            return PushOutcome::Duplicate;
        }
        segments.insert(seq, text);
        if segments.len() < usize::from(total) {
            return PushOutcome::Waiting {
                have: segments.len(),
                total,
            };
        }
        let text = self
            .pending
            .remove(&key)
            .map(|segments| segments.into_values().collect())
            .unwrap_or_default();
        PushOutcome::Complete { key, text }
    }

    /// Messages still incomplete.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Removes an incomplete message and returns what arrived, in order, so
    /// that it can be surfaced after a time-out.
    pub fn take_incomplete(&mut self, key: &MessageKey) -> Option<Vec<(u8, String)>> {
        self.pending
            .remove(key)
            .map(|segments| segments.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(total: u8) -> MessageKey {
        MessageKey {
            sender: "+15550000001".into(),
            reference: 7,
            total,
        }
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let mut r = Reassembler::new();
        let frag = |seq: u8, text: &str| Fragment {
            key: key(3),
            seq,
            text: text.into(),
        };
        assert_eq!(
            r.push(frag(3, "c")),
            PushOutcome::Waiting { have: 1, total: 3 }
        );
        assert_eq!(r.push(frag(3, "c")), PushOutcome::Duplicate);
        assert_eq!(r.push(frag(0, "x")), PushOutcome::Invalid);
        assert_eq!(
            r.push(frag(1, "a")),
            PushOutcome::Waiting { have: 2, total: 3 }
        );
        assert_eq!(
            r.push(frag(2, "b")),
            PushOutcome::Complete {
                key: key(3),
                text: "abc".into()
            }
        );
        assert_eq!(r.pending_count(), 0);
    }

    #[test]
    fn incomplete_can_be_taken() {
        let mut r = Reassembler::new();
        r.push(Fragment {
            key: key(2),
            seq: 2,
            text: "tail".into(),
        });
        assert_eq!(
            r.take_incomplete(&key(2)),
            Some(vec![(2, "tail".to_owned())])
        );
        assert_eq!(r.pending_count(), 0);
    }

    #[test]
    fn join_sorts_and_dedups() {
        assert_eq!(join_in_order([(2, "b"), (1, "a"), (2, "x")]), "ab");
    }
}
