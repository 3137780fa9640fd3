//! The smallest complete use of tch-mixcut: a small CNN on Fashion-MNIST (random data when it is not
//! installed), each uint8 batch mixed in place (Mixup α 0.2 or CutMix α 1.0, switching), soft-target
//! cross-entropy, then test accuracy with augmentation off.
//!
//! `cargo run --release --example minimal`

use tch_mixcut_harness as common;

use anyhow::Result;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer};

use common::input::{normalise, FASHION_MNIST};

fn main() -> Result<()> {
    let (train, test) = common::fashion_mnist::load_or_random(&common::fashion_mnist::resolve_dir(None))?;
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let conv = |p: nn::Path, i, o| nn::conv2d(p, i, o, 3, nn::ConvConfig { padding: 1, ..Default::default() });
    let net = nn::seq_t()
        .add(conv(&p / "conv1", 1, 8))
        .add_fn(|x| x.relu().max_pool2d_default(2))
        .add(conv(&p / "conv2", 8, 16))
        .add_fn(|x| x.relu().max_pool2d_default(2).flatten(1, -1))
        .add(nn::linear(&p / "fc", 16 * 7 * 7, 10, Default::default()));
    let mut opt = nn::AdamW::default().build(&vs, 3e-3)?;
    let mut mixer = Mixer::new(MixConfig::vit(10), 0)?; // Mixup α 0.2 or CutMix α 1.0, switch 0.5

    for step in 1..=300 {
        let index = Tensor::randint(train.len(), [128], (Kind::Int64, Device::Cpu));
        let mut images = train.images.index_select(0, &index); // uint8 [128, 1, 28, 28]
        let targets = mixer.apply_(&mut images, &train.labels.index_select(0, &index))?; // mixed in place
        let loss = soft_cross_entropy(&net.forward_t(&normalise(&images, &FASHION_MNIST)?, true), &targets);
        opt.backward_step(&loss);
        if step % 50 == 0 {
            println!("step {step:>3}  train loss {:.3}", loss.double_value(&[]));
        }
    }
    let accuracy =
        net.batch_accuracy_for_logits(&normalise(&test.images, &FASHION_MNIST)?, &test.labels, Device::Cpu, 1000);
    println!("test accuracy {:.2}% on {} images (no mixing at evaluation)", 100.0 * accuracy, test.len());
    Ok(())
}
