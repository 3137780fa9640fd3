//! `tch_mixcut::data` on files these tests write into a temporary folder: ImageNet's quirks (upper-case
//! `.JPEG`, grayscale and CMYK JPEGs, a PNG named `.JPEG`, a truncated JPEG, non-image files, class names
//! with spaces), class order, determinism across worker counts, sharding, scaled decoding, the bound on
//! the queue, resuming an epoch at a batch, and the batches' way into the mixer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use tch::{Device, Kind, Tensor};
use tch_mixcut::data::transforms::{eval_crop, random_resized_crop, sample_rng};
use tch_mixcut::data::{Batch, DataError, Decoding, ImageFolder, Loader, LoaderConfig};

/// A fresh empty folder under the system's temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("mixcut-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// `self/rel`, its parent folder created.
    fn file(&self, rel: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A smooth photo-like picture (gradients and a few soft blobs, different per `seed`).
fn photo(width: u32, height: u32, seed: u32) -> RgbImage {
    let s = seed as f32;
    RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
        let blob = ((u * (7.0 + s) + s).sin() * (v * (5.0 + s * 0.5)).cos() * 0.5 + 0.5) * 255.0;
        Rgb([(u * 255.0) as u8, blob as u8, ((1.0 - v) * 200.0 + 30.0 * (s % 2.0)) as u8])
    })
}

fn save_jpeg(image: &RgbImage, path: &Path) {
    image.save_with_format(path, ImageFormat::Jpeg).unwrap();
}

/// A CMYK JPEG of one colour (stored inverted, with Adobe's marker, as Photoshop writes them).
fn save_cmyk_jpeg(path: &Path, cmyk: [u8; 4], width: u16, height: u16) {
    let data: Vec<u8> = (0..width as usize * height as usize).flat_map(|_| cmyk).collect();
    let encoder = jpeg_encoder::Encoder::new_file(path, 95).unwrap();
    encoder.encode(&data, width, height, jpeg_encoder::ColorType::Cmyk).unwrap();
}

fn config(size: u32, batch_size: usize, workers: usize) -> LoaderConfig {
    LoaderConfig { workers, prefetch: 2 * workers, ..LoaderConfig::train(size, batch_size) }
}

fn collect(loader: &Loader, epoch: usize) -> Vec<Batch> {
    loader.epoch(epoch).map(|b| b.unwrap()).collect()
}

fn first_error(loader: &Loader) -> String {
    loader.epoch(0).find_map(|b| b.err()).map(|e| e.to_string()).expect("an error")
}

/// `n` photo-like JPEGs of varied sizes spread over 3 classes.
fn photo_folder(dir: &TempDir, n: u32) -> ImageFolder {
    for i in 0..n {
        let (w, h) = (300 + (i % 5) * 50, 220 + (i % 3) * 60);
        save_jpeg(&photo(w, h, i), &dir.file(&format!("train/class {}/{i:03}.JPEG", i % 3)));
    }
    ImageFolder::new(dir.0.join("train")).unwrap()
}

/// The mean colour of image `i` of a batch, per channel.
fn mean_rgb(batch: &Batch, i: i64) -> [f64; 3] {
    let means = batch.images.get(i).to_kind(Kind::Double).mean_dim(&[0i64, 1][..], false, Kind::Double);
    [0, 1, 2].map(|c| means.double_value(&[c]))
}

#[test]
fn imagenet_quirks_decode_by_content_and_non_images_are_ignored() {
    let dir = TempDir::new("quirks");
    // Sorted as Python sorts: upper case before lower case, spaces kept.
    save_jpeg(&photo(500, 375, 1), &dir.file("train/n01 tench/a.JPEG"));
    let grey = GrayImage::from_fn(333, 500, |x, y| Luma([((x + y) % 256) as u8]));
    grey.save_with_format(dir.file("train/n01 tench/grey.jpeg"), ImageFormat::Jpeg).unwrap();
    save_cmyk_jpeg(&dir.file("train/Goldfish/cmyk.jpg"), [0, 200, 255, 40], 400, 300);
    RgbImage::from_pixel(120, 90, Rgb([10, 200, 30]))
        .save_with_format(dir.file("train/Goldfish/png.JPEG"), ImageFormat::Png)
        .unwrap();
    std::fs::write(dir.file("train/Goldfish/notes.txt"), "not an image").unwrap();
    std::fs::write(dir.file("train/synsets.txt"), "a file beside the class folders").unwrap();
    let folder = ImageFolder::new(dir.0.join("train")).unwrap();
    assert_eq!(folder.classes(), ["Goldfish", "n01 tench"]);
    let names: Vec<(String, i64)> = folder
        .samples()
        .iter()
        .map(|s| (s.path.file_name().unwrap().to_string_lossy().into_owned(), s.label))
        .collect();
    let expected = [("cmyk.jpg", 0), ("png.JPEG", 0), ("a.JPEG", 1), ("grey.jpeg", 1)];
    assert_eq!(names, expected.map(|(n, l)| (n.to_string(), l)));
    assert_eq!(folder.ignored(), 1, "notes.txt; synsets.txt sits beside the classes, not in one");
    for decoding in [Decoding::Scaled, Decoding::Full] {
        let loader = Loader::new(&folder, LoaderConfig { decoding, ..LoaderConfig::eval(64, 4) }).unwrap();
        let batch = collect(&loader, 0).remove(0);
        assert_eq!((batch.images.size(), batch.images.kind()), (vec![4, 64, 64, 3], Kind::Uint8));
        assert_eq!(Vec::<i64>::try_from(&batch.labels).unwrap(), [0, 0, 1, 1]);
        // CMYK (0, 200, 255, 40) is RGB (215, 46, 0) by PIL's conversion R = (255 − C)(255 − K) / 255.
        let cmyk = mean_rgb(&batch, 0);
        for (got, want) in cmyk.iter().zip([215.0, 46.0, 0.0]) {
            assert!((got - want).abs() < 4.0, "{decoding:?}: CMYK decoded as {cmyk:?}");
        }
        assert_eq!(mean_rgb(&batch, 1), [10.0, 200.0, 30.0], "{decoding:?}: the PNG named .JPEG, exactly");
        let g = batch.images.get(3).to_kind(Kind::Int64);
        assert!(g.select(2, 0).equal(&g.select(2, 1)) && g.select(2, 1).equal(&g.select(2, 2)), "grey: R = G = B");
    }
}

#[test]
fn a_val_class_that_train_lacks_is_named_and_missing_ones_are_allowed() {
    let dir = TempDir::new("val");
    for class in ["cat", "dog", "eel"] {
        save_jpeg(&photo(64, 48, 0), &dir.file(&format!("train/{class}/0.jpg")));
    }
    save_jpeg(&photo(64, 48, 0), &dir.file("val/eel/0.jpg"));
    save_jpeg(&photo(64, 48, 0), &dir.file("val/cat/0.jpg"));
    let train = ImageFolder::new(dir.0.join("train")).unwrap();
    let val = ImageFolder::with_classes(dir.0.join("val"), train.classes()).unwrap();
    assert_eq!(val.samples().iter().map(|s| s.label).collect::<Vec<_>>(), [0, 2], "labels by name");
    std::fs::create_dir_all(dir.0.join("val/sea lion")).unwrap();
    let e = ImageFolder::with_classes(dir.0.join("val"), train.classes()).unwrap_err();
    assert!(matches!(e, DataError::Layout { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("val: class folder \"sea lion\" is not among the training classes"), "{e}");
    // An empty training class is refused by name, as torchvision refuses it.
    std::fs::create_dir_all(dir.0.join("train/fox")).unwrap();
    let e = ImageFolder::new(dir.0.join("train")).unwrap_err().to_string();
    assert!(e.contains("[\"fox\"]") && e.contains("every training class needs at least one"), "{e}");
}

#[test]
fn a_truncated_jpeg_ends_the_epoch_by_name_or_is_skipped_and_counted() {
    let dir = TempDir::new("truncated");
    let folder = photo_folder(&dir, 9);
    let whole = std::fs::read(&folder.samples()[4].path).unwrap();
    std::fs::write(dir.file("train/class 1/zz-cut.jpg"), &whole[..whole.len() / 2]).unwrap();
    let folder = ImageFolder::new(dir.0.join("train")).unwrap();
    for decoding in [Decoding::Scaled, Decoding::Full] {
        let loader = Loader::new(&folder, LoaderConfig { decoding, ..config(32, 4, 2) }).unwrap();
        let e = first_error(&loader);
        assert!(e.contains("zz-cut.jpg: not a decodable JPEG or PNG image") && e.contains("skip_bad_images"), "{e}");
        let skipping = Loader::new(&folder, LoaderConfig { decoding, skip_bad_images: true, ..config(32, 4, 2) });
        let batches = collect(&skipping.unwrap(), 0);
        let skipped: usize = batches.iter().map(|b| b.skipped).sum();
        let images: usize = batches.iter().map(Batch::len).sum();
        assert_eq!((skipped, images), (1, 9), "{decoding:?}");
    }
    // A file that is not there (removed after listing) is named too.
    std::fs::remove_file(dir.0.join("train/class 1/zz-cut.jpg")).unwrap();
    let e = first_error(&Loader::new(&folder, config(32, 4, 1)).unwrap());
    assert!(e.contains("zz-cut.jpg: cannot read"), "{e}");
}

#[test]
fn batches_are_the_same_whatever_the_workers_and_change_with_the_epoch() {
    let dir = TempDir::new("determinism");
    let folder = photo_folder(&dir, 23);
    let one = collect(&Loader::new(&folder, config(48, 5, 1)).unwrap(), 3);
    let four = collect(&Loader::new(&folder, LoaderConfig { prefetch: 3, ..config(48, 5, 4) }).unwrap(), 3);
    assert_eq!(one.len(), 5);
    assert_eq!(one.iter().map(Batch::len).collect::<Vec<_>>(), [5, 5, 5, 5, 3], "short last batch kept");
    for (a, b) in one.iter().zip(&four) {
        assert_eq!(a.indices, b.indices);
        assert!(a.images.equal(&b.images) && a.labels.equal(&b.labels));
    }
    let mut seen: Vec<usize> = one.iter().flat_map(|b| b.indices.clone()).collect();
    seen.sort();
    assert_eq!(seen, (0..23).collect::<Vec<_>>(), "each sample once per epoch");
    let next = collect(&Loader::new(&folder, config(48, 5, 2)).unwrap(), 4);
    assert_ne!(one[0].indices, next[0].indices, "another epoch, another order");
    let dropped = Loader::new(&folder, LoaderConfig { drop_last: true, ..config(48, 5, 2) }).unwrap();
    assert_eq!((dropped.len(), collect(&dropped, 3).len()), (4, 4), "drop_last leaves out the short batch");
}

#[test]
fn ranks_see_disjoint_shards_that_cover_the_epoch() {
    let dir = TempDir::new("shards");
    let folder = photo_folder(&dir, 30);
    let shard = |rank, drop_last| {
        let c = LoaderConfig { rank, world_size: 4, drop_last, ..config(32, 3, 1) };
        Loader::new(&folder, c).unwrap().epoch_indices(7)
    };
    // 30 samples over 4 ranks: 8 each, the epoch's first 2 samples repeated to even it out
    // (DistributedSampler's padding); with drop_last, 7 each and the last 2 left out.
    for (drop_last, per_rank, distinct) in [(false, 8, 30), (true, 7, 28)] {
        let shards: Vec<Vec<usize>> = (0..4).map(|r| shard(r, drop_last)).collect();
        let mut all: Vec<usize> = shards.concat();
        assert!(shards.iter().all(|s| s.len() == per_rank), "{shards:?}");
        all.sort();
        all.dedup();
        assert_eq!(all.len(), distinct, "drop_last {drop_last}: {shards:?}");
        let overlap = 4 * per_rank - distinct;
        assert_eq!(overlap, if drop_last { 0 } else { 2 });
    }
    // The batches a rank gets are its shard, in order.
    let c = LoaderConfig { rank: 2, world_size: 4, ..config(32, 3, 2) };
    let got: Vec<usize> =
        collect(&Loader::new(&folder, c).unwrap(), 7).iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(got, shard(2, false));
}

#[test]
fn scaled_decoding_is_close_to_a_full_decode_with_the_same_crop() {
    let dir = TempDir::new("scaled");
    for i in 0..12 {
        save_jpeg(&photo(1000, 750, i), &dir.file(&format!("train/c/{i:02}.jpg")));
    }
    let folder = ImageFolder::new(dir.0.join("train")).unwrap();
    let run = |decoding| {
        let loader = Loader::new(&folder, LoaderConfig { decoding, ..config(64, 12, 2) }).unwrap();
        collect(&loader, 0).remove(0)
    };
    let (scaled, full) = (run(Decoding::Scaled), run(Decoding::Full));
    assert_eq!(scaled.indices, full.indices);
    assert!(!scaled.images.equal(&full.images), "most crops of 1000 × 750 at 64 px decode scaled");
    // Tolerance: DCT scaling is a different low-pass filter from the resize's, and a different decoder.
    // On these smooth pictures each image stays within 1.5 grey levels of the full decode on average
    // (0.4–0.9 seen) and 12 at any value (5 seen).
    let diff = (scaled.images.to_kind(Kind::Float) - full.images.to_kind(Kind::Float)).abs();
    let per_image = Vec::<f32>::try_from(diff.mean_dim(&[1i64, 2, 3][..], false, Kind::Float)).unwrap();
    assert!(per_image.iter().all(|&d| d < 1.5), "mean |scaled − full| per image: {per_image:?}");
    assert!(diff.max().double_value(&[]) < 12.0, "max |scaled − full|: {}", diff.max());
    let again = run(Decoding::Scaled);
    assert!(again.images.equal(&scaled.images), "scaled decoding is reproducible");
}

#[test]
fn the_queue_never_holds_more_than_prefetch_batches() {
    let dir = TempDir::new("queue");
    let folder = photo_folder(&dir, 40);
    for prefetch in [2, 6] {
        let loader = Loader::new(&folder, LoaderConfig { prefetch, ..config(32, 2, 4) }).unwrap();
        let mut batches = loader.epoch(0);
        let mut n = 0;
        for b in batches.by_ref() {
            b.unwrap();
            n += 1;
            std::thread::sleep(Duration::from_millis(15)); // a slow consumer: the workers run ahead
        }
        let peak = batches.peak_held();
        assert_eq!(n, 20);
        assert!(peak <= prefetch, "prefetch {prefetch}: {peak} batches held at once");
        if prefetch == 6 {
            assert!(peak > 2, "four workers ahead of a slow consumer fill more than 2 places: {peak}");
        }
    }
    // Dropping the batches early stops the workers (the test would hang otherwise).
    let loader = Loader::new(&folder, config(32, 2, 4)).unwrap();
    let first = loader.epoch(0).next().unwrap().unwrap();
    assert_eq!(first.len(), 2);
}

#[test]
fn options_out_of_range_are_refused_by_name() {
    let dir = TempDir::new("options");
    let folder = photo_folder(&dir, 3);
    let cases: [(LoaderConfig, &str); 5] = [
        (LoaderConfig { batch_size: 0, ..config(32, 2, 1) }, "batch_size: got 0, expected at least 1"),
        (LoaderConfig { workers: 0, ..config(32, 2, 1) }, "workers: got 0, expected at least 1"),
        (LoaderConfig { prefetch: 0, ..config(32, 2, 1) }, "prefetch: got 0, expected at least 1"),
        (config(0, 2, 1), "size: got 0, expected 1 to 2048 pixels"),
        (
            LoaderConfig { rank: 2, world_size: 2, ..config(32, 2, 1) },
            "rank: got 2, expected a rank below world_size 2",
        ),
    ];
    for (c, message) in cases {
        assert_eq!(Loader::new(&folder, c).unwrap_err().to_string(), message);
    }
    let e = ImageFolder::new(dir.0.join("missing")).unwrap_err().to_string();
    assert!(e.contains("missing: cannot read"), "{e}");
    if !tch::Cuda::is_available() {
        let e = Loader::new(&folder, LoaderConfig { pin_memory: true, ..config(32, 2, 1) }).unwrap_err().to_string();
        assert!(e.starts_with("pin_memory: got true, expected false here"), "{e}");
    }
}

#[test]
fn transform_geometry_matches_torchvision() {
    // Eval on 500 × 375: shorter side 375 → 256, longer int(256 · 500 / 375) = 341; centre crop 224 at
    // top round(16) = 16, left round(58.5) = 58 (ties to even), in source pixels × 375/256 or 500/341.
    let c = eval_crop(500, 375, 224);
    let (sx, sy) = (500.0 / 341.0, 375.0 / 256.0);
    for (got, want) in [(c.left, 58.0 * sx), (c.top, 16.0 * sy), (c.width, 224.0 * sx), (c.height, 224.0 * sy)] {
        assert!((got - want).abs() < 1e-9, "{c:?}");
    }
    // RandomResizedCrop stays inside the image, within the scale and ratio ranges (up to rounding).
    for i in 0..500 {
        let (w, h) = (300 + (i as u32 % 7) * 40, 200 + (i as u32 % 5) * 60);
        let c = random_resized_crop(w, h, &mut sample_rng(0, 0, i));
        assert!(c.left >= 0.0 && c.top >= 0.0 && c.left + c.width <= w as f64 && c.top + c.height <= h as f64, "{c:?}");
        let area = c.width * c.height / (w * h) as f64;
        let ratio = c.width / c.height;
        assert!((0.07..=1.0).contains(&area) && (0.74..=1.35).contains(&ratio), "{c:?} area {area} ratio {ratio}");
    }
    // In a 4000 × 10 image no crop of 8% area or more with a ratio in [3/4, 4/3] fits, so all 10 tries
    // fail and the fallback is the centred crop of ratio 4/3 over the full height: 13 × 10.
    for i in 0..20 {
        let c = random_resized_crop(4000, 10, &mut sample_rng(1, 0, i));
        assert_eq!((c.left, c.top, c.width, c.height), (((4000 - 13) / 2) as f64, 0.0, 13.0, 10.0));
    }
}

#[test]
fn batches_go_straight_into_the_normalising_pass_as_nhwc() {
    use tch_mixcut::{InputLayout, MixConfig, Mixer, Normalize};
    let dir = TempDir::new("mixer");
    let folder = photo_folder(&dir, 6);
    let batch = collect(&Loader::new(&folder, config(32, 6, 2)).unwrap(), 0).remove(0);
    let (images, labels) = batch.to_device(Device::Cpu);
    let mut mixer = Mixer::new(MixConfig::deit(3), 0).unwrap();
    let norm = Normalize { input: InputLayout::Nhwc, ..Normalize::imagenet(Kind::Float) };
    let (input, targets) = mixer.apply_normalized_t(&images, &labels, &norm, false).unwrap();
    assert_eq!((input.size(), targets.size()), (vec![6, 3, 32, 32], vec![6, 3]));
    // Unmixed, the pass is the textbook normalisation of the NHWC pixels.
    let mean = Tensor::from_slice(&[0.485f32, 0.456, 0.406]);
    let std = Tensor::from_slice(&[0.229f32, 0.224, 0.225]);
    let expected = ((images.to_kind(Kind::Float) / 255.0 - mean) / std).permute([0, 3, 1, 2]);
    assert!(input.allclose(&expected, 1e-5, 1e-5, false));
    let (mixed, _) = mixer.apply_normalized(&images, &labels, &norm).unwrap();
    assert_eq!(mixed.size(), [6, 3, 32, 32]);
}

#[test]
fn an_epoch_resumed_at_a_batch_number_gives_the_same_batches_and_mixed_inputs() {
    use tch_mixcut::{InputLayout, MixConfig, Mixer, Normalize, RngState};
    let dir = TempDir::new("resume");
    let folder = photo_folder(&dir, 23);
    let loader = Loader::new(&folder, config(32, 5, 2)).unwrap();
    let norm = Normalize { input: InputLayout::Nhwc, ..Normalize::imagenet(Kind::Float) };
    let mix = |mixer: &mut Mixer, batch: &Batch| mixer.apply_normalized(&batch.images, &batch.labels, &norm).unwrap();

    // The uninterrupted epoch, with the checkpoint a run would save after each batch.
    let mut mixer = Mixer::new(MixConfig::deit(3), 5).unwrap();
    let mut uninterrupted = Vec::new();
    let mut checkpoints = vec![(0, mixer.rng_state().to_bytes())];
    for batch in loader.epoch(2) {
        let batch = batch.unwrap();
        let mixed = mix(&mut mixer, &batch);
        checkpoints.push((batch.number + 1, mixer.rng_state().to_bytes()));
        uninterrupted.push((batch, mixed));
    }
    assert_eq!(uninterrupted.iter().map(|(b, _)| b.number).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);

    // Resumed from each checkpoint (the last one at the epoch's end: nothing left), in a fresh mixer.
    for (next, saved) in checkpoints {
        let mut resumed = Mixer::new(MixConfig::deit(3), 999).unwrap();
        resumed.set_rng_state(&RngState::from_bytes(&saved).unwrap());
        let rest: Vec<Batch> = loader.epoch_from(2, next).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(rest.len(), 5 - next, "from batch {next}");
        for ((want, (want_x, want_t)), got) in uninterrupted[next..].iter().zip(&rest) {
            assert_eq!((got.number, &got.indices), (want.number, &want.indices), "from batch {next}");
            assert!(got.images.equal(&want.images) && got.labels.equal(&want.labels), "from batch {next}");
            let (x, t) = mix(&mut resumed, got);
            assert!(x.equal(want_x) && t.equal(want_t), "mixed batch {} from batch {next}", got.number);
        }
    }

    // The batches before `first` are not made: a file of batch 0 gone ends `epoch` but not `epoch_from(.., 1)`.
    std::fs::remove_file(&folder.samples()[uninterrupted[0].0.indices[0]].path).unwrap();
    assert!(loader.epoch(2).any(|b| b.is_err()));
    assert!(loader.epoch_from(2, 1).unwrap().all(|b| b.is_ok()));
    // Nor held: with a slow consumer the workers run ahead to the queue's bound, counted from `first`.
    let mut rest =
        Loader::new(&folder, LoaderConfig { prefetch: 2, ..config(32, 5, 2) }).unwrap().epoch_from(2, 1).unwrap();
    for batch in rest.by_ref() {
        batch.unwrap();
        std::thread::sleep(Duration::from_millis(15));
    }
    assert!(rest.peak_held() <= 2, "{} batches held at once, prefetch 2", rest.peak_held());

    let e = loader.epoch_from(2, 6).err().expect("past the epoch's end");
    assert!(matches!(e, DataError::InvalidArgument { argument: "first", .. }), "{e:?}");
    assert!(e.to_string().contains("got batch 6, expected at most 5"), "{e}");
}
