//! Plan sampling: statistics at fixed seeds, with tolerances a wrong formula fails.

use tch_mixcut::{MixConfig, MixMode, MixOp, MixPlan, Mixer};

fn plans(config: MixConfig, seed: u64, shape: &[i64], count: usize) -> Vec<MixPlan> {
    let mut mixer = Mixer::new(config, seed).unwrap();
    (0..count).map(|_| mixer.sample_plan(shape).unwrap()).collect()
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    (m, xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64)
}

fn mixup_lams(plans: &[MixPlan]) -> Vec<f64> {
    plans
        .iter()
        .flat_map(|p| p.ops.iter())
        .filter_map(|op| match *op {
            MixOp::Mixup { lam } => Some(lam),
            _ => None,
        })
        .collect()
}

#[test]
fn mixup_lambda_follows_beta_alpha_alpha() {
    for alpha in [0.2, 0.4, 1.0] {
        let config = MixConfig { mode: MixMode::Elem, ..MixConfig::mixup(alpha, 10) };
        let lams = mixup_lams(&plans(config, 1, &[256, 8], 80));
        assert!(lams.len() > 20_000);
        let (m, v) = mean_var(&lams);
        let want_var = 1.0 / (4.0 * (2.0 * alpha + 1.0));
        assert!((m - 0.5).abs() < 0.01, "alpha {alpha}: mean {m}");
        assert!((v - want_var).abs() < 0.01, "alpha {alpha}: var {v}, Beta(a, a) has {want_var}");
        assert!(lams.iter().all(|&l| (0.0..1.0).contains(&l)));
    }
}

#[test]
fn corrected_cutmix_lambda_is_one_minus_clipped_box_area() {
    let config = MixConfig { mode: MixMode::Elem, ..MixConfig::cutmix(1.0, 10) };
    let mut seen = 0;
    for plan in plans(config, 2, &[64, 3, 17, 23], 50) {
        for op in &plan.ops {
            if let MixOp::CutMix { bbox, lam } = *op {
                assert!(bbox.y1 <= 17 && bbox.x1 <= 23);
                assert!((lam - (1.0 - bbox.area() as f64 / (17.0 * 23.0))).abs() < 1e-12);
                seen += 1;
            }
        }
    }
    assert!(seen > 2500, "{seen}");
}

#[test]
fn uncorrected_box_area_tracks_drawn_lambda() {
    let config = MixConfig { mode: MixMode::Elem, correct_lam: false, ..MixConfig::cutmix(1.0, 10) };
    let (h, w) = (40.0, 60.0);
    let mut interior = 0;
    for plan in plans(config, 3, &[64, 3, 40, 60], 50) {
        for op in &plan.ops {
            let MixOp::CutMix { bbox, lam } = *op else { continue };
            let r = (1.0 - lam).sqrt();
            // timm 1.0.31's rand_bbox: [centre − ⌊cut/2⌋, centre + ⌊(cut+1)/2⌋), an interior side of cut.
            let (ch, cw) = ((h * r).floor(), (w * r).floor());
            assert!(bbox.area() as f64 <= (1.0 - lam) * h * w + 1e-9, "{bbox:?} lam {lam}");
            if bbox.y0 > 0 && bbox.x0 > 0 && bbox.y1 < 40 && bbox.x1 < 60 {
                assert_eq!(((bbox.y1 - bbox.y0) as f64, (bbox.x1 - bbox.x0) as f64), (ch, cw), "lam {lam}");
                interior += 1;
            }
        }
    }
    assert!(interior > 100, "{interior}");
}

#[test]
fn prob_and_switch_prob_frequencies() {
    let config = MixConfig { mode: MixMode::Elem, prob: 0.3, switch_prob: 0.25, ..MixConfig::vit(10) };
    let all = plans(config, 4, &[200, 3, 8, 8], 100);
    let ops: Vec<MixOp> = all.iter().flat_map(|p| p.ops.iter().copied()).collect();
    let mixed = ops.iter().filter(|o| !matches!(o, MixOp::Keep)).count() as f64;
    let cut = ops.iter().filter(|o| matches!(o, MixOp::CutMix { .. })).count() as f64;
    // A CutMix box can come out empty (λ corrected to 1 → Keep); at α = 1 that is rare on 8×8.
    assert!((mixed / ops.len() as f64 - 0.3).abs() < 0.015, "mixed fraction {}", mixed / ops.len() as f64);
    assert!((cut / mixed - 0.25).abs() < 0.02, "cutmix fraction {}", cut / mixed);
}

#[test]
fn minmax_box_sides_stay_within_bounds() {
    let config = MixConfig { cutmix_minmax: Some((0.25, 0.5)), mode: MixMode::Elem, ..MixConfig::cutmix(1.0, 10) };
    let (mut boxes, mut far_edges) = (0, [0, 0]);
    for plan in plans(config, 5, &[32, 3, 32, 48], 200) {
        for op in &plan.ops {
            let MixOp::CutMix { bbox, lam } = *op else { panic!("minmax always cuts: {op:?}") };
            let (bh, bw) = (bbox.y1 - bbox.y0, bbox.x1 - bbox.x0);
            // timm 1.0.31: sides from [⌊32·0.25⌋, ⌊32·0.5⌋) and [⌊48·0.25⌋, ⌊48·0.5⌋), starts from [0, len − side].
            assert!((8..16).contains(&bh) && (12..24).contains(&bw), "{bbox:?}");
            assert!(bbox.y1 <= 32 && bbox.x1 <= 48, "{bbox:?}");
            assert!((lam - (1.0 - (bh * bw) as f64 / (32.0 * 48.0))).abs() < 1e-12);
            boxes += 1;
            far_edges[0] += (bbox.y1 == 32) as usize;
            far_edges[1] += (bbox.x1 == 48) as usize;
        }
    }
    // A start is uniform over len − side + 1 places, the last of which touches the far edge: about
    // 1/(32 − 11.5 + 1) ≈ 4.7% of the rows and 1/(48 − 17.5 + 1) ≈ 3.2% of the columns.
    let share = far_edges.map(|e| e as f64 / boxes as f64);
    assert!((0.035..0.06).contains(&share[0]) && (0.022..0.045).contains(&share[1]), "{share:?} of {boxes}");
}

#[test]
fn batch_pair_elem_structure() {
    let shape = [9, 3, 16, 16];
    for plan in plans(MixConfig { mode: MixMode::Batch, ..MixConfig::vit(10) }, 6, &shape, 20) {
        assert!(plan.ops.iter().enumerate().filter(|(i, _)| *i != 4).all(|(_, op)| *op == plan.ops[0]));
    }
    for plan in plans(MixConfig { mode: MixMode::Pair, ..MixConfig::vit(10) }, 6, &shape, 20) {
        for i in 0..9 {
            assert_eq!(plan.ops[i], plan.ops[8 - i]);
        }
        assert_ne!(plan.ops[0], plan.ops[1]);
    }
    for plan in plans(MixConfig { mode: MixMode::Elem, ..MixConfig::mixup(1.0, 10) }, 6, &shape, 20) {
        assert_ne!(plan.ops[0], plan.ops[8]);
    }
}

#[test]
fn odd_batch_middle_sample_pairs_with_itself_and_is_kept() {
    for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
        for plan in plans(MixConfig { mode, ..MixConfig::vit(10) }, 7, &[7, 3, 8, 8], 20) {
            assert_eq!(plan.partner(3), 3);
            assert_eq!(plan.ops[3], MixOp::Keep);
            assert!((0..7).all(|i| plan.partner(i) == 6 - i));
        }
    }
}

#[test]
fn sequences_get_segments_of_length_one_minus_lambda() {
    let config = MixConfig { mode: MixMode::Elem, correct_lam: false, ..MixConfig::cutmix(1.0, 10) };
    for plan in plans(config, 8, &[16, 2, 1000], 10) {
        assert_eq!(plan.extent, Some((1, 1000)));
        for op in &plan.ops {
            let MixOp::CutMix { bbox, lam } = *op else { continue };
            assert_eq!((bbox.y0, bbox.y1), (0, 1));
            let side = ((1.0 - lam) * 1000.0).floor();
            assert!((bbox.x1 - bbox.x0) as f64 <= side + 1e-9);
            if bbox.x0 > 0 && bbox.x1 < 1000 {
                assert_eq!((bbox.x1 - bbox.x0) as f64, side);
            }
        }
    }
}

#[test]
fn ranks_draw_different_reproducible_streams() {
    let draw = |seed, rank| {
        let mut m = Mixer::for_rank(MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) }, seed, rank).unwrap();
        (0..5).map(|_| m.sample_plan(&[16, 3, 8, 8]).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(draw(11, 0), draw(11, 0));
    assert_eq!(draw(11, 3), draw(11, 3));
    assert_ne!(draw(11, 0), draw(11, 1));
    assert_ne!(draw(11, 0), draw(12, 0));
    assert_eq!(draw(11, 0), plans(MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) }, 11, &[16, 3, 8, 8], 5));
}

#[test]
fn prob_zero_and_disabled_give_identity_plans() {
    let mut off = Mixer::new(MixConfig { prob: 0.0, ..MixConfig::deit(10) }, 1).unwrap();
    assert!(off.sample_plan(&[8, 3, 4, 4]).unwrap().is_identity());
    let mut m = Mixer::new(MixConfig { off_epoch: Some(3), prob: 1.0, ..MixConfig::mixup(1.0, 10) }, 1).unwrap();
    m.set_epoch(2);
    assert!(!m.sample_plan(&[8, 3, 4, 4]).unwrap().is_identity());
    m.set_epoch(3);
    assert!(m.sample_plan(&[8, 3, 4, 4]).unwrap().is_identity());
    // The caller's switch and the epoch are separate: an epoch never turns back on what set_enabled
    // turned off, and set_enabled(true) does not undo the off epoch.
    m.set_epoch(1);
    assert!(m.is_enabled());
    m.set_enabled(false);
    m.set_epoch(2);
    assert!(!m.is_enabled() && m.sample_plan(&[8, 3, 4, 4]).unwrap().is_identity());
    m.set_enabled(true);
    assert!(m.is_enabled());
    m.set_epoch(5);
    m.set_enabled(true);
    assert!(!m.is_enabled() && m.sample_plan(&[8, 3, 4, 4]).unwrap().is_identity());
}
