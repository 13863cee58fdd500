//! The shape of a bottleneck ResNet and the state-dict names and shapes it implies.
//!
//! The layout is torchvision's (`torchvision.models.resnet`, "v1.5"): a 7x7/2 stem
//! convolution with BatchNorm and ReLU, a 3x3/2 max pool, four stages of bottleneck blocks
//! (1x1, 3x3 carrying the stage's stride, 1x1 expanding by 4; a 1x1 projection with BatchNorm
//! where the shape changes), and a global average pool giving the feature.

use std::collections::BTreeMap;

use crate::error::{CnnError, Result};

/// How much a bottleneck block widens its input: its output has `4 x planes` channels.
pub const EXPANSION: usize = 4;

/// BatchNorm's epsilon in torchvision's ResNets.
pub const BN_EPS: f64 = 1e-5;

/// The shape of a bottleneck ResNet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResNetConfig {
    /// Number of bottleneck blocks in each of the four stages ([3, 8, 36, 3] for ResNet-152).
    pub layers: [usize; 4],
    /// Channels of the stem and `planes` of the first stage; stage `i` has `width << i`
    /// planes (64 in torchvision).
    pub width: usize,
    /// torchvision's `width_per_group`: a block's inner width is `planes x
    /// width_per_group / 64` (64 normally, 128 for the wide ResNets).
    pub width_per_group: usize,
    /// BatchNorm's epsilon.
    pub bn_eps: f64,
}

/// Name and shape of one tensor of a state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The state-dict name (`layer1.0.conv1.weight`).
    pub name: String,
    /// Its shape, PyTorch's layout.
    pub shape: Vec<usize>,
}

impl ResNetConfig {
    /// A configuration with torchvision's widths and the given stage depths.
    pub fn with_layers(layers: [usize; 4]) -> Self {
        ResNetConfig {
            layers,
            width: 64,
            width_per_group: 64,
            bn_eps: BN_EPS,
        }
    }

    /// torchvision's `resnet50`.
    pub fn resnet50() -> Self {
        Self::with_layers([3, 4, 6, 3])
    }

    /// torchvision's `resnet101`.
    pub fn resnet101() -> Self {
        Self::with_layers([3, 4, 23, 3])
    }

    /// torchvision's `resnet152`.
    pub fn resnet152() -> Self {
        Self::with_layers([3, 8, 36, 3])
    }

    /// Length of the pooled feature (2048 at torchvision's width).
    pub fn feature_dim(&self) -> usize {
        self.stage_planes(3) * EXPANSION
    }

    /// `planes` of stage `stage` (0-based).
    pub fn stage_planes(&self, stage: usize) -> usize {
        self.width << stage
    }

    /// The inner (1x1 and 3x3) width of the blocks of stage `stage`.
    pub fn stage_inner(&self, stage: usize) -> usize {
        self.stage_planes(stage) * self.width_per_group / 64
    }

    /// The stride of stage `stage` (its first block's 3x3 convolution and projection).
    pub fn stage_stride(stage: usize) -> usize {
        if stage == 0 {
            1
        } else {
            2
        }
    }

    /// Input channels of block `block` of stage `stage`.
    pub fn block_in(&self, stage: usize, block: usize) -> usize {
        match (stage, block) {
            (0, 0) => self.width,
            (_, 0) => self.stage_planes(stage - 1) * EXPANSION,
            _ => self.stage_planes(stage) * EXPANSION,
        }
    }

    /// Whether block `block` of stage `stage` has a projection (`downsample`): where the
    /// stride or the channel count changes, as torchvision decides.
    pub fn has_downsample(&self, stage: usize, block: usize) -> bool {
        block == 0
            && (Self::stage_stride(stage) != 1
                || self.block_in(stage, 0) != self.stage_planes(stage) * EXPANSION)
    }

    /// Checks that every size is usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(CnnError::Architecture(why));
        if self.width == 0 || self.width_per_group == 0 {
            return bad(format!(
                "width {} and width_per_group {} must be positive",
                self.width, self.width_per_group
            ));
        }
        if let Some(stage) = self.layers.iter().position(|&n| n == 0) {
            return bad(format!("stage {} has no block", stage + 1));
        }
        if self.stage_inner(0) == 0 {
            return bad("the bottleneck's inner width rounds to 0".into());
        }
        if !(self.bn_eps > 0.0 && self.bn_eps.is_finite()) {
            return bad(format!(
                "BatchNorm epsilon {} must be positive",
                self.bn_eps
            ));
        }
        Ok(())
    }

    /// Every tensor the network takes from a state dict, in torchvision's order (`fc.*` and
    /// `num_batches_tracked`, which the features do not use, left out).
    pub fn specs(&self) -> Vec<TensorSpec> {
        let mut specs = Vec::new();
        conv_bn_specs(&mut specs, "conv1", "bn1", [self.width, 3, 7, 7]);
        for stage in 0..4 {
            for block in 0..self.layers[stage] {
                self.block_specs(&mut specs, stage, block);
            }
        }
        specs
    }

    /// The tensors of one bottleneck block.
    fn block_specs(&self, specs: &mut Vec<TensorSpec>, stage: usize, block: usize) {
        let prefix = format!("layer{}.{block}", stage + 1);
        let (cin, inner) = (self.block_in(stage, block), self.stage_inner(stage));
        let out = self.stage_planes(stage) * EXPANSION;
        let convs = [
            ("conv1", "bn1", [inner, cin, 1, 1]),
            ("conv2", "bn2", [inner, inner, 3, 3]),
            ("conv3", "bn3", [out, inner, 1, 1]),
        ];
        for (conv, bn, shape) in convs {
            conv_bn_specs(
                specs,
                &format!("{prefix}.{conv}"),
                &format!("{prefix}.{bn}"),
                shape,
            );
        }
        if self.has_downsample(stage, block) {
            conv_bn_specs(
                specs,
                &format!("{prefix}.downsample.0"),
                &format!("{prefix}.downsample.1"),
                [out, cin, 1, 1],
            );
        }
    }

    /// Reads the configuration off a state dict's shapes: `width` from `conv1.weight`, the
    /// stage depths from the highest block index of each `layerN`, `width_per_group` from
    /// `layer1.0.conv1.weight`. The result still has to be checked against every shape.
    pub fn infer(shapes: &BTreeMap<String, Vec<usize>>) -> Result<Self> {
        let stem = shape_of(shapes, "conv1.weight")?;
        if stem.len() != 4 || stem[1] != 3 || stem[2..] != [7, 7] {
            return Err(CnnError::Architecture(format!(
                "`conv1.weight` has shape {stem:?}, expected [width, 3, 7, 7]"
            )));
        }
        if !shapes.contains_key("layer1.0.conv3.weight")
            && shapes.contains_key("layer1.0.conv2.weight")
        {
            return Err(CnnError::Architecture(
                "`layer1.0` has no `conv3`: a basic-block ResNet (resnet18/34), only \
                 bottleneck ResNets (resnet50/101/152) are supported"
                    .into(),
            ));
        }
        let width = stem[0];
        let mut layers = [0; 4];
        for (stage, depth) in layers.iter_mut().enumerate() {
            *depth = stage_depth(shapes, stage + 1);
        }
        let inner = shape_of(shapes, "layer1.0.conv1.weight")?[0];
        let config = ResNetConfig {
            layers,
            width,
            width_per_group: (inner * 64).div_ceil(width.max(1)),
            bn_eps: BN_EPS,
        };
        config.validate()?;
        Ok(config)
    }
}

/// The conv weight and the four BatchNorm tensors of a conv + BatchNorm pair.
fn conv_bn_specs(specs: &mut Vec<TensorSpec>, conv: &str, bn: &str, shape: [usize; 4]) {
    specs.push(TensorSpec {
        name: format!("{conv}.weight"),
        shape: shape.to_vec(),
    });
    for field in ["weight", "bias", "running_mean", "running_var"] {
        specs.push(TensorSpec {
            name: format!("{bn}.{field}"),
            shape: vec![shape[0]],
        });
    }
}

/// The shape of `name`, or an error saying it is missing.
fn shape_of<'a>(shapes: &'a BTreeMap<String, Vec<usize>>, name: &str) -> Result<&'a [usize]> {
    shapes
        .get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| CnnError::MissingTensors(vec![name.to_owned()]))
}

/// One more than the highest block index `i` with a tensor `layer{stage}.{i}.*`.
fn stage_depth(shapes: &BTreeMap<String, Vec<usize>>, stage: usize) -> usize {
    let prefix = format!("layer{stage}.");
    shapes
        .keys()
        .filter_map(|name| name.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('.').next()?.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(config: &ResNetConfig) -> BTreeMap<String, Vec<usize>> {
        config
            .specs()
            .into_iter()
            .map(|s| (s.name, s.shape))
            .collect()
    }

    #[test]
    fn resnet152_has_torchvisions_sizes() {
        let c = ResNetConfig::resnet152();
        assert_eq!(c.feature_dim(), 2048);
        let params: usize = c
            .specs()
            .iter()
            .filter(|s| !s.name.contains("running"))
            .map(|s| s.shape.iter().product::<usize>())
            .sum();
        // torchvision's 60,192,808 parameters less fc (2048 x 1000 + 1000).
        assert_eq!(params, 60_192_808 - 2_049_000);
    }

    #[test]
    fn the_configuration_is_read_back_from_its_shapes() {
        for config in [
            ResNetConfig::resnet50(),
            ResNetConfig::resnet152(),
            ResNetConfig {
                layers: [2, 1, 2, 1],
                width: 8,
                width_per_group: 64,
                bn_eps: BN_EPS,
            },
            ResNetConfig {
                width_per_group: 128,
                ..ResNetConfig::resnet50()
            },
        ] {
            assert_eq!(ResNetConfig::infer(&shapes(&config)).unwrap(), config);
        }
    }

    #[test]
    fn basic_block_resnets_are_refused_by_name() {
        let mut s = shapes(&ResNetConfig::resnet50());
        s.retain(|k, _| !k.ends_with("conv3.weight"));
        let err = ResNetConfig::infer(&s).unwrap_err().to_string();
        assert!(err.contains("resnet18/34"), "{err}");
    }

    #[test]
    fn an_empty_stage_is_refused() {
        let mut s = shapes(&ResNetConfig::resnet50());
        s.retain(|k, _| !k.starts_with("layer3."));
        let err = ResNetConfig::infer(&s).unwrap_err().to_string();
        assert!(err.contains("stage 3 has no block"), "{err}");
    }
}
