//! Message memories of a virtual modem: `SM` (SIM), `ME` (phone), `MT` (both, as one
//! numbering) and `SR` (status reports), with fixed capacities and stable indices, as
//! 3GPP TS 27.005 §3.1 describes them.
//!
//! Indices start at the personality's first index (0 on Huawei, 1 elsewhere) so that a daemon
//! which assumes 1-based slots fails its tests here rather than in the field.

use std::fmt;

/// A message memory name as it appears in `AT+CPMS` and `+CMTI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Memory {
    /// SIM card storage.
    Sm,
    /// Modem (phone) storage.
    Me,
    /// `SM` followed by `ME`, numbered as one memory.
    Mt,
    /// Status-report storage.
    Sr,
}

impl Memory {
    /// Every memory, in the order `AT+CPMS=?` lists them.
    pub const ALL: [Memory; 4] = [Memory::Me, Memory::Mt, Memory::Sm, Memory::Sr];

    /// Parses `SM`, `"SM"`, `sm`…
    pub fn parse(text: &str) -> Option<Memory> {
        match text.trim().trim_matches('"').to_ascii_uppercase().as_str() {
            "SM" => Some(Memory::Sm),
            "ME" => Some(Memory::Me),
            "MT" => Some(Memory::Mt),
            "SR" => Some(Memory::Sr),
            _ => None,
        }
    }

    /// The two-letter name.
    pub fn name(self) -> &'static str {
        match self {
            Memory::Sm => "SM",
            Memory::Me => "ME",
            Memory::Mt => "MT",
            Memory::Sr => "SR",
        }
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// `<stat>` of a stored message in PDU mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// 0: received, not yet read.
    ReceivedUnread,
    /// 1: received and read.
    ReceivedRead,
    /// 2: stored, not sent.
    StoredUnsent,
    /// 3: stored and sent.
    StoredSent,
}

impl MessageStatus {
    /// The PDU-mode number.
    pub fn code(self) -> u8 {
        match self {
            MessageStatus::ReceivedUnread => 0,
            MessageStatus::ReceivedRead => 1,
            MessageStatus::StoredUnsent => 2,
            MessageStatus::StoredSent => 3,
        }
    }

    /// The status for a PDU-mode number (4, "all", is not a status).
    pub fn from_code(code: u8) -> Option<MessageStatus> {
        match code {
            0 => Some(MessageStatus::ReceivedUnread),
            1 => Some(MessageStatus::ReceivedRead),
            2 => Some(MessageStatus::StoredUnsent),
            3 => Some(MessageStatus::StoredSent),
            _ => None,
        }
    }
}

/// One message as a test sees it in [`crate::sim::SimModem::stored`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The memory it is in (`SM`, `ME` or `SR`; never `MT`).
    pub memory: Memory,
    /// Its index in that memory.
    pub index: u32,
    /// Read/unread/sent state.
    pub status: MessageStatus,
    /// The PDU as `AT+CMGR` prints it (SMSC prefix included), upper-case hex.
    pub pdu_hex: String,
    /// The `<length>` field: TPDU octets, SMSC excluded.
    pub tpdu_len: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    status: MessageStatus,
    pdu_hex: String,
    tpdu_len: usize,
}

#[derive(Debug, Clone)]
struct Slots {
    entries: Vec<Option<Entry>>,
}

impl Slots {
    fn new(capacity: usize) -> Self {
        Slots {
            entries: vec![None; capacity],
        }
    }

    fn used(&self) -> usize {
        self.entries.iter().filter(|slot| slot.is_some()).count()
    }

    fn free_position(&self) -> Option<usize> {
        self.entries.iter().position(|slot| slot.is_none())
    }
}

/// Why a storage operation was refused; maps onto `+CMS ERROR` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageError {
    /// The index is outside the memory (`+CMS ERROR: 321`).
    InvalidIndex,
    /// The memory has no free slot (`+CMS ERROR: 322`).
    Full,
}

/// The modem's message memories.
#[derive(Debug, Clone)]
pub struct MessageStore {
    first_index: u32,
    sim: Slots,
    phone: Slots,
    reports: Slots,
}

impl MessageStore {
    /// Empty memories of the given capacities; indices start at `first_index`.
    pub fn new(
        first_index: u32,
        sim_capacity: usize,
        phone_capacity: usize,
        report_capacity: usize,
    ) -> Self {
        MessageStore {
            first_index,
            sim: Slots::new(sim_capacity),
            phone: Slots::new(phone_capacity),
            reports: Slots::new(report_capacity),
        }
    }

    /// Messages in `memory`.
    pub fn used(&self, memory: Memory) -> usize {
        match memory {
            Memory::Sm => self.sim.used(),
            Memory::Me => self.phone.used(),
            Memory::Mt => self.sim.used() + self.phone.used(),
            Memory::Sr => self.reports.used(),
        }
    }

    /// Slots in `memory`.
    pub fn capacity(&self, memory: Memory) -> usize {
        match memory {
            Memory::Sm => self.sim.entries.len(),
            Memory::Me => self.phone.entries.len(),
            Memory::Mt => self.sim.entries.len() + self.phone.entries.len(),
            Memory::Sr => self.reports.entries.len(),
        }
    }

    /// Whether one more message fits in `memory`.
    pub fn has_room(&self, memory: Memory) -> bool {
        self.used(memory) < self.capacity(memory)
    }

    /// Stores a message in the first free slot and returns its index in `memory`.
    pub fn store(
        &mut self,
        memory: Memory,
        status: MessageStatus,
        pdu_hex: &str,
        tpdu_len: usize,
    ) -> Result<u32, StorageError> {
        let entry = Entry {
            status,
            pdu_hex: pdu_hex.to_ascii_uppercase(),
            tpdu_len,
        };
        let (slots, offset) = match memory {
            Memory::Sm => (&mut self.sim, 0),
            Memory::Me => (&mut self.phone, 0),
            Memory::Sr => (&mut self.reports, 0),
            Memory::Mt => {
                if self.sim.free_position().is_some() {
                    (&mut self.sim, 0)
                } else {
                    let offset = self.sim.entries.len();
                    (&mut self.phone, offset)
                }
            }
        };
        let position = slots.free_position().ok_or(StorageError::Full)?;
        if let Some(slot) = slots.entries.get_mut(position) {
            *slot = Some(entry);
        }
        Ok(self.first_index + (offset + position) as u32)
    }

    fn slot_mut(&mut self, memory: Memory, index: u32) -> Result<&mut Option<Entry>, StorageError> {
        let position = index
            .checked_sub(self.first_index)
            .ok_or(StorageError::InvalidIndex)? as usize;
        let sim_len = self.sim.entries.len();
        let slot = match memory {
            Memory::Sm => self.sim.entries.get_mut(position),
            Memory::Me => self.phone.entries.get_mut(position),
            Memory::Sr => self.reports.entries.get_mut(position),
            Memory::Mt if position < sim_len => self.sim.entries.get_mut(position),
            Memory::Mt => self.phone.entries.get_mut(position - sim_len),
        };
        slot.ok_or(StorageError::InvalidIndex)
    }

    /// The message at `index` (`Ok(None)` for an empty slot) and, when `mark_read`, turns
    /// "received unread" into "received read" as `AT+CMGR` does.
    pub fn read(
        &mut self,
        memory: Memory,
        index: u32,
        mark_read: bool,
    ) -> Result<Option<StoredMessage>, StorageError> {
        let slot = self.slot_mut(memory, index)?;
        let Some(entry) = slot.as_mut() else {
            return Ok(None);
        };
        let shown = StoredMessage {
            memory,
            index,
            status: entry.status,
            pdu_hex: entry.pdu_hex.clone(),
            tpdu_len: entry.tpdu_len,
        };
        if mark_read && entry.status == MessageStatus::ReceivedUnread {
            entry.status = MessageStatus::ReceivedRead;
        }
        Ok(Some(shown))
    }

    /// Empties slot `index`; an already-empty slot is fine (real modems answer `OK`).
    pub fn delete(&mut self, memory: Memory, index: u32) -> Result<(), StorageError> {
        *self.slot_mut(memory, index)? = None;
        Ok(())
    }

    /// `AT+CMGD=<i>,<flag>` with flag 1..4: delete all read (1), read+sent (2),
    /// read+sent+unsent (3) or everything (4).
    pub fn delete_by_flag(&mut self, memory: Memory, flag: u8) {
        let doomed = |status: MessageStatus| match flag {
            1 => status == MessageStatus::ReceivedRead,
            2 => matches!(
                status,
                MessageStatus::ReceivedRead | MessageStatus::StoredSent
            ),
            3 => status != MessageStatus::ReceivedUnread,
            _ => true,
        };
        for slots in self.physical_mut(memory) {
            for slot in slots.entries.iter_mut() {
                if slot.as_ref().is_some_and(|entry| doomed(entry.status)) {
                    *slot = None;
                }
            }
        }
    }

    fn physical_mut(&mut self, memory: Memory) -> Vec<&mut Slots> {
        match memory {
            Memory::Sm => vec![&mut self.sim],
            Memory::Me => vec![&mut self.phone],
            Memory::Sr => vec![&mut self.reports],
            Memory::Mt => vec![&mut self.sim, &mut self.phone],
        }
    }

    /// `AT+CMGL=<stat>`: messages of `memory` whose status matches (`None` = all), in index
    /// order; when `mark_read`, listed unread messages become read.
    pub fn list(
        &mut self,
        memory: Memory,
        status: Option<MessageStatus>,
        mark_read: bool,
    ) -> Vec<StoredMessage> {
        let first_index = self.first_index;
        let mut listed = Vec::new();
        let mut offset = 0usize;
        for slots in self.physical_mut(memory) {
            for (position, slot) in slots.entries.iter_mut().enumerate() {
                let Some(entry) = slot.as_mut() else { continue };
                if status.is_some_and(|wanted| wanted != entry.status) {
                    continue;
                }
                listed.push(StoredMessage {
                    memory,
                    index: first_index + (offset + position) as u32,
                    status: entry.status,
                    pdu_hex: entry.pdu_hex.clone(),
                    tpdu_len: entry.tpdu_len,
                });
                if mark_read && entry.status == MessageStatus::ReceivedUnread {
                    entry.status = MessageStatus::ReceivedRead;
                }
            }
            offset += slots.entries.len();
        }
        listed
    }

    /// Every stored message of the physical memories `SM`, `ME` and `SR`, for test assertions.
    pub fn snapshot(&self) -> Vec<StoredMessage> {
        let mut all = Vec::new();
        for (memory, slots) in [
            (Memory::Sm, &self.sim),
            (Memory::Me, &self.phone),
            (Memory::Sr, &self.reports),
        ] {
            for (position, slot) in slots.entries.iter().enumerate() {
                if let Some(entry) = slot {
                    all.push(StoredMessage {
                        memory,
                        index: self.first_index + position as u32,
                        status: entry.status,
                        pdu_hex: entry.pdu_hex.clone(),
                        tpdu_len: entry.tpdu_len,
                    });
                }
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_start_at_the_first_index_and_reuse_freed_slots() {
        let mut store = MessageStore::new(0, 3, 2, 1);
        assert_eq!(
            store.store(Memory::Sm, MessageStatus::ReceivedUnread, "00", 1),
            Ok(0)
        );
        assert_eq!(
            store.store(Memory::Sm, MessageStatus::ReceivedUnread, "01", 1),
            Ok(1)
        );
        store.delete(Memory::Sm, 0).unwrap();
        assert_eq!(
            store.store(Memory::Sm, MessageStatus::ReceivedUnread, "02", 1),
            Ok(0)
        );
        assert_eq!(store.used(Memory::Sm), 2);
    }

    #[test]
    fn full_memory_is_refused() {
        let mut store = MessageStore::new(1, 1, 0, 0);
        assert!(store
            .store(Memory::Sm, MessageStatus::ReceivedUnread, "00", 1)
            .is_ok());
        assert!(!store.has_room(Memory::Sm));
        assert_eq!(
            store.store(Memory::Sm, MessageStatus::ReceivedUnread, "00", 1),
            Err(StorageError::Full)
        );
        assert_eq!(
            store.store(Memory::Sr, MessageStatus::ReceivedUnread, "00", 1),
            Err(StorageError::Full)
        );
    }

    #[test]
    fn mt_numbers_sim_then_phone() {
        let mut store = MessageStore::new(1, 1, 2, 0);
        assert_eq!(
            store.store(Memory::Mt, MessageStatus::ReceivedUnread, "AA", 1),
            Ok(1)
        );
        assert_eq!(
            store.store(Memory::Mt, MessageStatus::ReceivedUnread, "BB", 1),
            Ok(2)
        );
        let second = store.read(Memory::Mt, 2, false).unwrap().unwrap();
        assert_eq!(second.pdu_hex, "BB");
        let in_phone = store.read(Memory::Me, 1, false).unwrap().unwrap();
        assert_eq!(in_phone.pdu_hex, "BB");
        assert_eq!(store.list(Memory::Mt, None, false).len(), 2);
    }

    #[test]
    fn reading_marks_read_and_lists_filter_by_status() {
        let mut store = MessageStore::new(1, 5, 0, 0);
        store
            .store(Memory::Sm, MessageStatus::ReceivedUnread, "aa", 1)
            .unwrap();
        store
            .store(Memory::Sm, MessageStatus::ReceivedUnread, "bb", 1)
            .unwrap();
        let first = store.read(Memory::Sm, 1, true).unwrap().unwrap();
        assert_eq!(first.status, MessageStatus::ReceivedUnread);
        assert_eq!(first.pdu_hex, "AA");
        let unread = store.list(Memory::Sm, Some(MessageStatus::ReceivedUnread), false);
        assert_eq!(unread.len(), 1);
        assert_eq!(unread[0].index, 2);
        store.delete_by_flag(Memory::Sm, 1);
        assert_eq!(store.used(Memory::Sm), 1);
        store.delete_by_flag(Memory::Sm, 4);
        assert_eq!(store.used(Memory::Sm), 0);
    }

    #[test]
    fn out_of_range_indices_are_errors_not_panics() {
        let mut store = MessageStore::new(1, 2, 0, 0);
        assert_eq!(
            store.read(Memory::Sm, 0, true),
            Err(StorageError::InvalidIndex)
        );
        assert_eq!(
            store.read(Memory::Sm, 3, true),
            Err(StorageError::InvalidIndex)
        );
        assert_eq!(
            store.read(Memory::Sm, u32::MAX, true),
            Err(StorageError::InvalidIndex)
        );
        assert_eq!(store.delete(Memory::Me, 1), Err(StorageError::InvalidIndex));
        assert_eq!(store.read(Memory::Sm, 2, true), Ok(None));
    }
}
