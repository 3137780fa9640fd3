//! The examples' models, written the way tch-rs writes its own (`tch::vision::resnet`): functions that
//! return `impl ModuleT` blocks, assembled with `nn::seq_t` and `nn::func_t` into a `FuncT` model.

use std::sync::{Arc, Mutex};

use anyhow::{ensure, Result};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use crate::cli::{Arch, ResNetArgs, VitArgs};
use crate::source::InputShape;

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(p, c_in, c_out, k, nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() })
}

fn batch_norm(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

/// The identity, or a strided 1×1 convolution and batch norm where the block changes shape.
fn shortcut(p: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> nn::SequentialT {
    if stride != 1 || c_in != c_out {
        let down = nn::seq_t();
        // oneDNN's CPU 1×1 strided convolution, channels-last with fewer input channels than its block
        // (8 with AVX2, 16 with AVX-512), writes past its workspace in the weights' gradient: a hang, a
        // crash or wrong gradients (uxlfoundation/oneDNN#6035). Image folders' batches are channels-last,
        // so a narrow `--width` takes that convolution in the contiguous layout instead.
        let down = if c_in < 16 { down.add_fn(Tensor::contiguous) } else { down };
        down.add(conv(p / "down", c_in, c_out, 1, stride)).add(batch_norm(p / "down_bn", c_out))
    } else {
        nn::seq_t()
    }
}

/// Two 3×3 convolutions with batch norm and a residual connection (He et al. 2016).
fn basic_block(p: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> impl ModuleT {
    let skip = shortcut(p, c_in, c_out, stride);
    let conv1 = conv(p / "conv1", c_in, c_out, 3, stride);
    let bn1 = batch_norm(p / "bn1", c_out);
    let conv2 = conv(p / "conv2", c_out, c_out, 3, 1);
    let bn2 = batch_norm(p / "bn2", c_out);
    nn::func_t(move |x, train| {
        let y = x.apply(&conv1).apply_t(&bn1, train).relu().apply(&conv2).apply_t(&bn2, train);
        (y + x.apply_t(&skip, train)).relu()
    })
}

/// A CIFAR-style ResNet (He et al. 2016, §4.2): a 3×3 stem, three stages of `blocks_per_stage` basic
/// blocks at `width`, `2·width`, `4·width` channels (stride 2 between stages), global average pooling
/// and a linear classifier. `blocks_per_stage` 1 gives ResNet-8, 3 gives ResNet-20.
pub fn resnet(p: &nn::Path, in_channels: i64, width: i64, blocks_per_stage: usize, classes: i64) -> nn::FuncT<'static> {
    let mut body = nn::seq_t();
    let mut channels = width;
    for stage in 0..3 {
        let out = width << stage;
        for b in 0..blocks_per_stage {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            body = body.add(basic_block(&(p / format!("stage{stage}_{b}")), channels, out, stride));
            channels = out;
        }
    }
    let stem = conv(p / "stem", in_channels, width, 3, 1);
    let stem_bn = batch_norm(p / "stem_bn", width);
    let fc = nn::linear(p / "fc", channels, classes, Default::default());
    nn::func_t(move |x, train| {
        x.apply(&stem)
            .apply_t(&stem_bn, train)
            .relu()
            .apply_t(&body, train)
            .adaptive_avg_pool2d([1, 1])
            .flatten(1, -1)
            .apply(&fc)
    })
}

/// The shape of a Vision Transformer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VitConfig {
    /// Side of the square input images.
    pub image: i64,
    /// Input channels.
    pub channels: i64,
    /// Patch side (must divide `image`).
    pub patch: i64,
    /// Token width.
    pub dim: i64,
    /// Transformer blocks.
    pub depth: usize,
    /// Attention heads (must divide `dim`).
    pub heads: i64,
    /// MLP hidden width as a multiple of `dim`.
    pub mlp_ratio: i64,
    /// Classes of the head.
    pub classes: i64,
}

impl VitConfig {
    /// Checks the shape; the error names the option, its value and what was expected.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("image-size", self.image),
            ("patch", self.patch),
            ("dim", self.dim),
            ("heads", self.heads),
            ("mlp-ratio", self.mlp_ratio),
        ] {
            ensure!(v >= 1, "{name}: got {v}, expected >= 1");
        }
        ensure!(self.depth >= 1, "depth: got {}, expected >= 1", self.depth);
        ensure!(
            self.image % self.patch == 0,
            "patch: got {}, expected a divisor of the image side {}",
            self.patch,
            self.image
        );
        ensure!(self.dim % self.heads == 0, "heads: got {}, expected a divisor of dim = {}", self.heads, self.dim);
        Ok(())
    }
}

/// A model the examples train, and where it leaves its attention (ViTs, for TransMix).
pub struct Model {
    pub net: nn::FuncT<'static>,
    pub attention: Option<AttentionTap>,
}

impl Model {
    /// A model that leaves no attention.
    pub fn plain(net: nn::FuncT<'static>) -> Self {
        Model { net, attention: None }
    }
}

/// Where a ViT's last block leaves the class token's attention over the patches, `[B, heads, P]`
/// (detached), at every forward pass: TransMix's label weights. With the patch side.
#[derive(Clone, Debug)]
pub struct AttentionTap {
    pub patch: i64,
    last: Arc<Mutex<Option<Tensor>>>,
}

impl AttentionTap {
    pub fn new(patch: i64) -> Self {
        AttentionTap { patch, last: Arc::new(Mutex::new(None)) }
    }

    /// The attention of the latest forward pass, if one ran since the last take.
    pub fn take(&self) -> Option<Tensor> {
        self.last.lock().expect("not poisoned").take()
    }

    fn put(&self, attention: Tensor) {
        *self.last.lock().expect("not poisoned") = Some(attention);
    }
}

/// A pre-norm transformer block: multi-head self-attention, then a GELU MLP, each with a residual. With a
/// tap, it also leaves the class token's attention over the other tokens there.
fn vit_block(p: &nn::Path, dim: i64, heads: i64, mlp_ratio: i64, tap: Option<AttentionTap>) -> impl ModuleT {
    let ln = |q: nn::Path| nn::layer_norm(q, vec![dim], Default::default());
    let lin = |q: nn::Path, i, o| nn::linear(q, i, o, Default::default());
    let norm1 = ln(p / "norm1");
    let qkv = lin(p / "qkv", dim, 3 * dim);
    let proj = lin(p / "proj", dim, dim);
    let norm2 = ln(p / "norm2");
    let fc1 = lin(p / "fc1", dim, mlp_ratio * dim);
    let fc2 = lin(p / "fc2", mlp_ratio * dim, dim);
    nn::func_t(move |x, _train| {
        let (b, t, d) = x.size3().expect("tokens [B, T, D]");
        let qkv = x.apply(&norm1).apply(&qkv).view([b, t, 3, heads, d / heads]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        if let Some(tap) = &tap {
            // softmax(q₀·kᵀ/√d) of the class token (token 0), without its own entry: [B, heads, T − 1].
            let scale = 1.0 / ((d / heads) as f64).sqrt();
            let logits = q.narrow(2, 0, 1).matmul(&k.transpose(-2, -1)) * scale;
            tap.put(logits.softmax(-1, Kind::Float).squeeze_dim(2).narrow(2, 1, t - 1).detach());
        }
        let attn = Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, false, None, false);
        let x = x + attn.transpose(1, 2).reshape([b, t, d]).apply(&proj);
        let mlp = x.apply(&norm2).apply(&fc1).gelu("none").apply(&fc2);
        x + mlp
    })
}

/// A Vision Transformer (Dosovitskiy et al. 2021): non-overlapping patches embedded by a strided
/// convolution, a class token, learnt position embeddings, pre-norm blocks, and a linear head on the
/// class token. Call [`VitConfig::validate`] first.
pub fn vit(p: &nn::Path, c: &VitConfig) -> nn::FuncT<'static> {
    vit_tapped(p, c, None)
}

/// [`vit`] whose last block leaves its class-token attention in `tap`.
pub fn vit_tapped(p: &nn::Path, c: &VitConfig, tap: Option<AttentionTap>) -> nn::FuncT<'static> {
    let tokens = (c.image / c.patch) * (c.image / c.patch) + 1;
    let blocks = (0..c.depth).fold(nn::seq_t(), |s, d| {
        let last = if d + 1 == c.depth { tap.clone() } else { None };
        s.add(vit_block(&(p / format!("block{d}")), c.dim, c.heads, c.mlp_ratio, last))
    });
    let patch_embed = nn::conv2d(
        p / "patch_embed",
        c.channels,
        c.dim,
        c.patch,
        nn::ConvConfig { stride: c.patch, ..Default::default() },
    );
    let cls = p.var("cls", &[1, 1, c.dim], nn::Init::Randn { mean: 0.0, stdev: 0.02 });
    let pos = p.var("pos", &[1, tokens, c.dim], nn::Init::Randn { mean: 0.0, stdev: 0.02 });
    let norm = nn::layer_norm(p / "norm", vec![c.dim], Default::default());
    let head = nn::linear(p / "head", c.dim, c.classes, Default::default());
    nn::func_t(move |x, train| {
        let patches = x.apply(&patch_embed).flatten(2, -1).transpose(1, 2);
        let b = patches.size()[0];
        let y = Tensor::cat(&[cls.expand([b, -1, -1], false), patches], 1) + &pos;
        y.apply_t(&blocks, train).apply(&norm).select(1, 0).apply(&head)
    })
}

/// The ResNet of `arch` for `input`; tch's ImageNet ResNets need 3-channel images.
pub fn resnet_for(p: &nn::Path, arch: Arch, m: &ResNetArgs, input: &InputShape) -> Result<nn::FuncT<'static>> {
    ensure!(m.width >= 1, "width: got {}, expected >= 1", m.width);
    ensure!(m.blocks >= 1, "blocks: got {}, expected >= 1", m.blocks);
    if arch != Arch::Small {
        ensure!(
            input.channels == 3,
            "arch: got {arch:?}, expected small for {}-channel images (tch's ImageNet ResNets take RGB)",
            input.channels
        );
    }
    Ok(match arch {
        Arch::Small => resnet(p, input.channels, m.width, m.blocks, input.classes),
        Arch::Resnet18 => tch::vision::resnet::resnet18(p, input.classes),
        Arch::Resnet50 => {
            let model = tch::vision::resnet::resnet50(p, input.classes);
            nn::func_t(move |x, train| model.forward_t(x, train))
        }
    })
}

/// The ViT of `v` for `input`: unset options from the small Fashion-MNIST ViT (1 channel) or ViT-S/16;
/// its last block leaves its attention (for TransMix).
pub fn vit_for(p: &nn::Path, v: &VitArgs, input: &InputShape) -> Result<Model> {
    let (patch, dim, depth, heads, mlp_ratio) =
        if input.channels == 1 { (4, 64, 4, 4, 2) } else { (16, 384, 12, 6, 4) };
    let config = VitConfig {
        image: input.size,
        channels: input.channels,
        patch: v.patch.unwrap_or(patch),
        dim: v.dim.unwrap_or(dim),
        depth: v.depth.unwrap_or(depth),
        heads: v.heads.unwrap_or(heads),
        mlp_ratio: v.mlp_ratio.unwrap_or(mlp_ratio),
        classes: input.classes,
    };
    config.validate()?;
    let tap = AttentionTap::new(config.patch);
    Ok(Model { net: vit_tapped(p, &config, Some(tap.clone())), attention: Some(tap) })
}
