//! The two models of the training examples, sized for 28 × 28 grey images.

use tch::nn::{self, ModuleT};
use tch::Tensor;

/// A CIFAR-style ResNet (He et al. 2016, §4.2): a 3×3 stem, three stages of basic blocks at
/// `width`, `2·width`, `4·width` channels (stride 2 between stages: 28 → 14 → 7), global average
/// pooling and a linear classifier.
#[derive(Debug)]
pub struct ResNet {
    stem: nn::Conv2D,
    stem_bn: nn::BatchNorm,
    blocks: Vec<BasicBlock>,
    fc: nn::Linear,
}

#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    shortcut: Option<(nn::Conv2D, nn::BatchNorm)>,
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() };
    nn::conv2d(p, i, o, k, cfg)
}

impl BasicBlock {
    fn new(p: &nn::Path, i: i64, o: i64, stride: i64) -> Self {
        let shortcut = (stride != 1 || i != o).then(|| (conv(p / "down", i, o, 1, stride), nn::batch_norm2d(p / "down_bn", o, Default::default())));
        BasicBlock {
            conv1: conv(p / "conv1", i, o, 3, stride),
            bn1: nn::batch_norm2d(p / "bn1", o, Default::default()),
            conv2: conv(p / "conv2", o, o, 3, 1),
            bn2: nn::batch_norm2d(p / "bn2", o, Default::default()),
            shortcut,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x.apply(&self.conv1).apply_t(&self.bn1, train).relu().apply(&self.conv2).apply_t(&self.bn2, train);
        let skip = match &self.shortcut {
            Some((c, bn)) => x.apply(c).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    }
}

impl ResNet {
    /// `blocks_per_stage` basic blocks in each of the three stages (1 → ResNet-8, 3 → ResNet-20).
    pub fn new(p: &nn::Path, width: i64, blocks_per_stage: usize, classes: i64) -> Self {
        let mut blocks = Vec::new();
        let mut channels = width;
        for stage in 0..3 {
            let out = width << stage;
            for b in 0..blocks_per_stage {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(&(p / format!("stage{stage}_{b}")), channels, out, stride));
                channels = out;
            }
        }
        ResNet {
            stem: conv(p / "stem", 1, width, 3, 1),
            stem_bn: nn::batch_norm2d(p / "stem_bn", width, Default::default()),
            blocks,
            fc: nn::linear(p / "fc", channels, classes, Default::default()),
        }
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = x.apply(&self.stem).apply_t(&self.stem_bn, train).relu();
        for b in &self.blocks {
            y = b.forward_t(&y, train);
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&self.fc)
    }
}

/// A small Vision Transformer (Dosovitskiy et al. 2021): non-overlapping `patch × patch` patches embedded
/// by a strided convolution, a class token, learnt position embeddings, pre-norm transformer blocks
/// (multi-head self-attention, GELU MLP), and a linear head on the class token.
#[derive(Debug)]
pub struct Vit {
    patch_embed: nn::Conv2D,
    cls: Tensor,
    pos: Tensor,
    blocks: Vec<VitBlock>,
    norm: nn::LayerNorm,
    head: nn::Linear,
    heads: i64,
}

#[derive(Debug)]
struct VitBlock {
    norm1: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    norm2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Vit {
    /// `dim`-wide tokens, `depth` blocks of `heads` heads, MLP ratio 2.
    pub fn new(p: &nn::Path, patch: i64, dim: i64, depth: usize, heads: i64, classes: i64) -> Self {
        let tokens = (28 / patch) * (28 / patch) + 1;
        let ln = |q: nn::Path| nn::layer_norm(q, vec![dim], Default::default());
        let lin = |q: nn::Path, i, o| nn::linear(q, i, o, Default::default());
        let blocks = (0..depth)
            .map(|d| {
                let b = p / format!("block{d}");
                VitBlock {
                    norm1: ln(&b / "norm1"),
                    qkv: lin(&b / "qkv", dim, 3 * dim),
                    proj: lin(&b / "proj", dim, dim),
                    norm2: ln(&b / "norm2"),
                    fc1: lin(&b / "fc1", dim, 2 * dim),
                    fc2: lin(&b / "fc2", 2 * dim, dim),
                }
            })
            .collect();
        Vit {
            patch_embed: nn::conv2d(p / "patch_embed", 1, dim, patch, nn::ConvConfig { stride: patch, ..Default::default() }),
            cls: p.var("cls", &[1, 1, dim], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            pos: p.var("pos", &[1, tokens, dim], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            blocks,
            norm: ln(p / "norm"),
            head: lin(p / "head", dim, classes),
            heads,
        }
    }
}

impl VitBlock {
    fn forward(&self, x: &Tensor, heads: i64) -> Tensor {
        let (b, t, d) = x.size3().unwrap();
        let qkv = x.apply(&self.norm1).apply(&self.qkv).view([b, t, 3, heads, d / heads]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let attn = Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, false, None, false);
        let x = x + attn.transpose(1, 2).reshape([b, t, d]).apply(&self.proj);
        let mlp = x.apply(&self.norm2).apply(&self.fc1).gelu("none").apply(&self.fc2);
        x + mlp
    }
}

impl ModuleT for Vit {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let patches = x.apply(&self.patch_embed).flatten(2, -1).transpose(1, 2);
        let b = patches.size()[0];
        let mut y = Tensor::cat(&[self.cls.expand([b, -1, -1], false), patches], 1) + &self.pos;
        for blk in &self.blocks {
            y = blk.forward(&y, self.heads);
        }
        y.apply(&self.norm).select(1, 0).apply(&self.head)
    }
}
