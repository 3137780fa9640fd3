//! Checkpoint and resume: a mixer restored from a saved random state draws the plans the uninterrupted
//! one draws.

mod common;

use common::*;
use tch::Kind;
use tch_mixcut::{Error, MixConfig, MixMode, MixPlan, Mixer, RngState};

fn config() -> MixConfig {
    MixConfig { mode: MixMode::Elem, ..MixConfig::deit(10) }
}

#[test]
fn restored_state_draws_the_same_plans_as_an_uninterrupted_run() {
    let shape = [8i64, 3, 16, 16];
    let (x, y) = (images(&shape, Kind::Float), labels(8, 10));
    for rank in [0, 3] {
        let mut run = Mixer::for_rank(config(), 7, rank).unwrap();
        // N calls, through both entry points (apply samples like sample_plan does).
        for _ in 0..5 {
            let _ = run.apply(&x, &y).unwrap();
            let _ = run.sample_plan(&shape).unwrap();
        }
        let saved = run.rng_state().to_bytes();
        let uninterrupted: Vec<MixPlan> = (0..6).map(|_| run.sample_plan(&shape).unwrap()).collect();

        // A fresh mixer with another seed and rank, restored from the bytes.
        let mut resumed = Mixer::new(config(), 999).unwrap();
        resumed.set_rng_state(&RngState::from_bytes(&saved).unwrap());
        let replayed: Vec<MixPlan> = (0..6).map(|_| resumed.sample_plan(&shape).unwrap()).collect();
        assert_eq!(replayed, uninterrupted, "rank {rank}");
        assert!(uninterrupted.windows(2).any(|w| w[0] != w[1]), "the plans vary, so equality means something");
    }
}

#[test]
fn mixed_outputs_match_after_resume() {
    let (x, y) = (images(&[6, 3, 8, 8], Kind::Float), labels(6, 10));
    let mut run = Mixer::new(config(), 3).unwrap();
    let _ = run.apply(&x, &y).unwrap();
    let state = run.rng_state();
    let (want, want_t) = run.apply(&x, &y).unwrap();
    let mut resumed = Mixer::new(config(), 4).unwrap();
    resumed.set_rng_state(&state);
    let (got, got_t) = resumed.apply(&x, &y).unwrap();
    assert_eq!((values(&got), values(&got_t)), (values(&want), values(&want_t)));
}

#[test]
fn bad_state_bytes_are_refused() {
    let good = Mixer::new(config(), 1).unwrap().rng_state().to_bytes();
    assert_eq!(good.len(), RngState::BYTES);
    let e = RngState::from_bytes(&good[1..]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "bytes", .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("got {} bytes", RngState::BYTES - 1)), "{e}");
    let mut wrong_version = good;
    wrong_version[0] = 9;
    assert!(RngState::from_bytes(&wrong_version).is_err());
}

#[test]
fn positions_to_bytes_never_writes_are_refused() {
    let good = Mixer::new(config(), 1).unwrap().rng_state().to_bytes();
    let at = |pos: u128| {
        let mut bytes = good;
        bytes[41..].copy_from_slice(&pos.to_le_bytes());
        bytes
    };
    // 2^72 used to be truncated to position 0, drawing the plans of a fresh mixer.
    for pos in [1u128 << 68, 1 << 72, u128::MAX] {
        let e = RngState::from_bytes(&at(pos)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { argument: "bytes", .. }), "{e:?}");
        assert!(e.to_string().contains(&pos.to_string()) && e.to_string().contains("2^68"), "{e}");
    }
    // The last position a stream has round-trips.
    let last = at((1 << 68) - 1);
    let mut mixer = Mixer::new(config(), 2).unwrap();
    mixer.set_rng_state(&RngState::from_bytes(&last).unwrap());
    assert_eq!(mixer.rng_state().to_bytes(), last);
}

#[test]
fn each_rank_saves_and_restores_its_own_stream() {
    let shape = [8i64, 3, 16, 16];
    let mut ranks: Vec<Mixer> = (0..3).map(|r| Mixer::for_rank(config(), 7, r).unwrap()).collect();
    for mixer in &mut ranks {
        for _ in 0..4 {
            let _ = mixer.sample_plan(&shape).unwrap();
        }
    }
    let saved: Vec<[u8; RngState::BYTES]> = ranks.iter().map(|m| m.rng_state().to_bytes()).collect();
    let next: Vec<MixPlan> = ranks.iter_mut().map(|m| m.sample_plan(&shape).unwrap()).collect();
    assert!(next[0] != next[1] && next[1] != next[2] && next[0] != next[2], "the ranks draw different plans");
    for (rank, bytes) in saved.iter().enumerate() {
        let state = RngState::from_bytes(bytes).unwrap();
        assert_eq!(state.stream(), rank as u64);
        let mut resumed = Mixer::for_rank(config(), 7, rank as u64).unwrap();
        resumed.set_rng_state(&state);
        assert_eq!(resumed.sample_plan(&shape).unwrap(), next[rank], "rank {rank}");
    }
}
