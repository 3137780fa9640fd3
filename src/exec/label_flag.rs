//! Each [`Mixer`](crate::Mixer)'s own label-error flag for the fused CUDA kernels.
//!
//! Every device on which the kernels are loaded holds an array of [`SLOTS`] `i32` flags in mapped host
//! memory. A mixer owns one slot index (the same on every device) and a token unique to it in the process.
//! Its launches store the token into its slot when a class index is out of range; its next call (or
//! `Mixer::take_label_error`) reads the slot without a sync. A slot freed by a dropped mixer may still
//! receive a late store from that mixer's last launch: it carries the old token, so the next owner
//! ignores it instead of reporting another mixer's error.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Flags per device: more mixers alive at once than this fall back to checking labels before each launch.
pub(crate) const SLOTS: usize = 4096;

/// A mixer's slot and token (`slot: None` when every slot is taken).
#[derive(Debug)]
pub(crate) struct LabelFlag {
    slot: Option<u32>,
    token: i32,
}

/// Slots never handed out start at `.1`; freed ones queue in `.0`, oldest first.
fn free_slots() -> &'static Mutex<(VecDeque<u32>, u32)> {
    static FREE: Mutex<(VecDeque<u32>, u32)> = Mutex::new((VecDeque::new(), 0));
    &FREE
}

impl LabelFlag {
    /// Takes a slot (one never used if any is left, else the one freed longest ago, so a late store of
    /// its previous owner has had the most time to land) and a fresh token.
    pub(crate) fn new() -> Self {
        static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);
        // Tokens are positive i32s; after 2^31 - 1 mixers they wrap to 1 again.
        let token = (NEXT_TOKEN.fetch_add(1, Ordering::Relaxed) % (i32::MAX as u32)).max(1) as i32;
        let mut free = free_slots().lock().unwrap_or_else(|e| e.into_inner());
        let slot = if free.1 < SLOTS as u32 {
            free.1 += 1;
            Some(free.1 - 1)
        } else {
            free.0.pop_front()
        };
        LabelFlag { slot, token }
    }

    /// The slot index, if the mixer has one.
    pub(crate) fn slot(&self) -> Option<usize> {
        self.slot.map(|s| s as usize)
    }

    /// The value this mixer's launches store on an out-of-range class index (never 0).
    pub(crate) fn token(&self) -> i32 {
        self.token
    }
}

impl Drop for LabelFlag {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            free_slots().lock().unwrap_or_else(|e| e.into_inner()).0.push_back(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_flags_have_distinct_slots_and_nonzero_tokens() {
        let flags: Vec<LabelFlag> = (0..64).map(|_| LabelFlag::new()).collect();
        let mut slots: Vec<usize> = flags.iter().filter_map(LabelFlag::slot).collect();
        let mut tokens: Vec<i32> = flags.iter().map(LabelFlag::token).collect();
        assert_eq!(slots.len(), 64);
        slots.sort_unstable();
        slots.dedup();
        tokens.sort_unstable();
        tokens.dedup();
        assert_eq!((slots.len(), tokens.len()), (64, 64));
        assert!(tokens.iter().all(|&t| t > 0));
    }
}
