//! torchvision's bottleneck ResNet (v1.5) in Burn, for inference: the pooled feature.
//!
//! BatchNorm runs in eval mode, `y = (x - mean) / sqrt(var + eps) * gamma + beta` with the
//! running statistics, so it is an affine map per channel and is folded into the convolution
//! before it when the weights are loaded (computed in f64): `w' = w * s`, `b' = beta - mean *
//! s` with `s = gamma / sqrt(var + eps)`. Convolutions pad with zeros and the max pool with
//! -inf, as PyTorch's do; output sizes round down in both.

use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

use crate::config::ResNetConfig;
use crate::error::{CnnError, Result};
use crate::weights::StateDict;

/// A convolution without bias followed by eval-mode BatchNorm, folded into one biased
/// convolution.
#[derive(Debug, Clone)]
struct ConvBn<B: Backend> {
    weight: Tensor<B, 4>,
    bias: Tensor<B, 1>,
    stride: usize,
    padding: usize,
}

impl<B: Backend> ConvBn<B> {
    /// Folds the conv `{conv}.weight` and the BatchNorm `{bn}.*` of `sd`.
    fn load(
        sd: &StateDict,
        conv: &str,
        bn: &str,
        (stride, padding): (usize, usize),
        eps: f64,
        device: &B::Device,
    ) -> Self {
        let get = |name: String| &sd.get(&name).expect("checked against the config").data;
        let w = sd
            .get(&format!("{conv}.weight"))
            .expect("checked against the config");
        let [gamma, beta, mean, var] =
            ["weight", "bias", "running_mean", "running_var"].map(|f| get(format!("{bn}.{f}")));
        let (weight, bias) = fold_batchnorm(&w.data, gamma, beta, mean, var, eps);
        let shape: [usize; 4] = w.shape.clone().try_into().expect("a 4-d conv weight");
        ConvBn {
            weight: Tensor::from_data(TensorData::new(weight, shape), device),
            bias: Tensor::from_data(TensorData::new(bias, [shape[0]]), device),
            stride,
            padding,
        }
    }

    /// The convolution (with the folded BatchNorm).
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let (s, p) = (self.stride, self.padding);
        let options = ConvOptions::new([s, s], [p, p], [1, 1], 1);
        conv2d(x, self.weight.clone(), Some(self.bias.clone()), options)
    }
}

/// Folds eval-mode BatchNorm into the preceding convolution's weight (`out x rest`, row
/// major) and gives the bias; computed in f64.
pub fn fold_batchnorm(
    weight: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    let out = gamma.len();
    let per_out = weight.len() / out;
    let scale: Vec<f64> = (0..out)
        .map(|c| f64::from(gamma[c]) / (f64::from(var[c]) + eps).sqrt())
        .collect();
    let folded = weight
        .chunks_exact(per_out)
        .zip(&scale)
        .flat_map(|(row, &s)| row.iter().map(move |&w| (f64::from(w) * s) as f32))
        .collect();
    let bias = (0..out)
        .map(|c| (f64::from(beta[c]) - f64::from(mean[c]) * scale[c]) as f32)
        .collect();
    (folded, bias)
}

/// One bottleneck block: 1x1, 3x3 (with the stride), 1x1, plus the identity or a projection.
#[derive(Debug, Clone)]
struct Bottleneck<B: Backend> {
    conv1: ConvBn<B>,
    conv2: ConvBn<B>,
    conv3: ConvBn<B>,
    downsample: Option<ConvBn<B>>,
}

impl<B: Backend> Bottleneck<B> {
    /// Block `block` of stage `stage` (0-based) from `sd`.
    fn load(
        sd: &StateDict,
        config: &ResNetConfig,
        (stage, block): (usize, usize),
        device: &B::Device,
    ) -> Self {
        let p = format!("layer{}.{block}", stage + 1);
        let stride = if block == 0 {
            ResNetConfig::stage_stride(stage)
        } else {
            1
        };
        let eps = config.bn_eps;
        let conv = |c: &str, bn: &str, geometry| {
            ConvBn::load(
                sd,
                &format!("{p}.{c}"),
                &format!("{p}.{bn}"),
                geometry,
                eps,
                device,
            )
        };
        Bottleneck {
            conv1: conv("conv1", "bn1", (1, 0)),
            conv2: conv("conv2", "bn2", (stride, 1)),
            conv3: conv("conv3", "bn3", (1, 0)),
            downsample: config
                .has_downsample(stage, block)
                .then(|| conv("downsample.0", "downsample.1", (stride, 0))),
        }
    }

    /// `relu(conv3(relu(conv2(relu(conv1(x))))) + shortcut(x))`.
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = relu(self.conv1.forward(x));
        let out = relu(self.conv2.forward(out));
        relu(self.conv3.forward(out) + shortcut)
    }
}

/// A bottleneck ResNet up to its pooled feature (no classifier).
#[derive(Debug, Clone)]
pub struct ResNet<B: Backend> {
    config: ResNetConfig,
    stem: ConvBn<B>,
    stages: Vec<Vec<Bottleneck<B>>>,
}

impl<B: Backend> ResNet<B> {
    /// Builds the network from a state dict with torchvision's names, after checking every
    /// name and shape against `config` (errors name the tensor).
    pub fn from_state_dict(
        config: ResNetConfig,
        sd: &StateDict,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate()?;
        sd.check(&config)?;
        let stem = ConvBn::load(sd, "conv1", "bn1", (2, 3), config.bn_eps, device);
        let stages = (0..4)
            .map(|stage| {
                (0..config.layers[stage])
                    .map(|block| Bottleneck::load(sd, &config, (stage, block), device))
                    .collect()
            })
            .collect();
        Ok(ResNet {
            config,
            stem,
            stages,
        })
    }

    /// Builds the network from a state dict, reading the configuration off its shapes
    /// ([`ResNetConfig::infer`]).
    pub fn from_state_dict_inferred(sd: &StateDict, device: &B::Device) -> Result<Self> {
        let config = ResNetConfig::infer(&sd.shapes())?;
        Self::from_state_dict(config, sd, device)
    }

    /// Reads a state dict file (see [`StateDict::open`]) and builds the network, with the
    /// configuration given or read off the file. Errors name the file.
    pub fn open(
        path: &std::path::Path,
        config: Option<ResNetConfig>,
        device: &B::Device,
    ) -> Result<Self> {
        let sd = StateDict::open(path)?;
        let built = match config {
            Some(config) => Self::from_state_dict(config, &sd, device),
            None => Self::from_state_dict_inferred(&sd, device),
        };
        built.map_err(|e| e.in_file(path))
    }

    /// The configuration.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// Length of the feature vector.
    pub fn dim(&self) -> usize {
        self.config.feature_dim()
    }

    /// The pooled features `n x dim` of images `n x 3 x h x w`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = relu(self.stem.forward(images));
        let mut x = max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], false);
        for block in self.stages.iter().flatten() {
            x = block.forward(x);
        }
        global_average_pool(x)
    }

    /// The features of `n` images given as `n x 3 x h x w` row-major values, as `n x dim`
    /// row-major values.
    pub fn features(
        &self,
        images: &[f32],
        n: usize,
        [h, w]: [usize; 2],
        device: &B::Device,
    ) -> Result<Vec<f32>> {
        let expected = n * 3 * h * w;
        if images.len() != expected {
            return Err(CnnError::Input(format!(
                "{} values for {n} images of 3 x {h} x {w} (expected {expected})",
                images.len()
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = Tensor::<B, 4>::from_data(TensorData::new(images.to_vec(), [n, 3, h, w]), device);
        self.forward(x)
            .into_data()
            .into_vec::<f32>()
            .map_err(|e| CnnError::Input(format!("reading the features back: {e:?}")))
    }
}

/// Mean over the spatial positions: `n x c x h x w` to `n x c`.
fn global_average_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_matches_batchnorm_after_the_convolution() {
        // A 1x1 convolution with one input channel: y = w x, then BatchNorm.
        let (w, gamma, beta, mean, var) = (
            [2.0f32, -1.0],
            [1.5, 0.5],
            [0.1, -0.2],
            [0.3, 1.0],
            [4.0, 0.25],
        );
        let (fw, fb) = fold_batchnorm(&w, &gamma, &beta, &mean, &var, 0.0);
        for c in 0..2 {
            let x = 0.7f32;
            let bn = (w[c] * x - mean[c]) / var[c].sqrt() * gamma[c] + beta[c];
            assert!((fw[c] * x + fb[c] - bn).abs() < 1e-6);
        }
    }
}
