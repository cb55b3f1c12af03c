//! A small residual network (nn-conv's `ResNet` of `BasicBlock`s: a 3×3
//! stem, three stages of 8, 16 and 32 channels, global average pooling and a
//! linear classifier) on MNIST, or on the embedded 8×8 digits with
//! `--dataset digits` (seconds instead of minutes). Prints the network layer
//! by layer (output shape and parameter count) before training, then trains
//! with Adam and a cosine schedule and reports the test accuracy.
//!
//! `cargo run --release -p nnkit --example resnet_mnist -- [--dataset mnist|digits] [--data DIR] [--epochs N] [--seed N] [--threads N] [--lr X] [--batch-size N] [--base-channels N] [--blocks N]`

mod common;

use nnkit::conv::layers::{BlockKind, ResNet, ResNetConfig};
use nnkit::optim::CosineAnnealingLr;
use nnkit::prelude::*;
use nnkit::train::Trainer;

type Data = (TensorDataset<f32>, TensorDataset<f32>);

/// Training and test sets as `[N, 1, H, W]` images, roughly zero mean and unit variance.
fn load_data(
    args: &common::Args,
    dataset: &str,
    seed: u64,
) -> Result<Data, Box<dyn std::error::Error>> {
    match dataset {
        "mnist" => {
            // Normalised with the training set's mean and standard deviation.
            let dir = common::mnist_dir(args);
            let norm = MnistNormalization::MeanStd;
            Ok(load_mnist_splits(Some(&dir), ImageLayout::Nchw, norm)?.into_datasets())
        }
        "digits" => {
            // 1797 images of 8×8 pixels with values 0–16; 80 % / 20 %, stratified.
            let d = nnkit::data::digits().cast::<f32>();
            let n = d.targets.len();
            let x = (d.features * (1.0 / 16.0) - 0.3) * (1.0 / 0.4);
            let ds = TensorDataset::classification(x.reshape([n, 1, 8, 8]), d.targets)?;
            let s = ds.split(SplitFractions::train_test(0.8, 0.2), seed, true)?;
            Ok((s.train, s.test))
        }
        other => Err(format!("unknown --dataset `{other}` (use mnist or digits)").into()),
    }
}

/// Prints each layer's output shape for one input and its parameter count
/// (the course's kernel size × input channels × kernels + biases, plus the
/// batch norms' scale and shift).
fn print_summary(net: &ResNet<f32>, image: &[usize]) {
    let mut shape = vec![1];
    shape.extend_from_slice(image);
    let x = Tensor::zeros(&shape);
    net.eval();
    no_grad(|| {
        eprintln!(
            "{:<34} {:>15} {:>10}",
            "layer", "output shape", "parameters"
        );
        eprintln!("{:<34} {:>15} {:>10}", "input", format!("{shape:?}"), 0);
        let h = net.bn1.forward(net.conv1.forward(&x)).relu();
        let stem = net.conv1.num_parameters() + net.bn1.num_parameters();
        eprintln!(
            "{:<34} {:>15} {:>10}",
            "stem conv1+bn1+relu",
            format!("{:?}", h.shape()),
            stem
        );
        let mut h = match &net.maxpool {
            Some(m) => m.forward(&h),
            None => h,
        };
        for (i, stage) in net.stages.iter().enumerate() {
            for (j, block) in stage.iter().enumerate() {
                h = block.forward(&h);
                let kind = if block
                    .named_parameters()
                    .iter()
                    .any(|(n, _)| n.starts_with("shortcut"))
                {
                    "BasicBlock, projection"
                } else {
                    "BasicBlock, identity"
                };
                eprintln!(
                    "{:<34} {:>15} {:>10}",
                    format!("layer{}.{j} ({kind})", i + 1),
                    format!("{:?}", h.shape()),
                    block.num_parameters()
                );
            }
        }
        let pooled = nnkit::conv::global_avg_pool2d(&h);
        eprintln!(
            "{:<34} {:>15} {:>10}",
            "global average pool",
            format!("{:?}", pooled.shape()),
            0
        );
        let y = net.fc.forward(&pooled);
        eprintln!(
            "{:<34} {:>15} {:>10}",
            "fc",
            format!("{:?}", y.shape()),
            net.fc.num_parameters()
        );
    });
    eprintln!("{:<34} {:>15} {:>10}", "total", "", net.num_parameters());
    net.train();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse(
        "resnet_mnist",
        &[
            "dataset",
            "data",
            "epochs",
            "threads",
            "lr",
            "batch-size",
            "base-channels",
            "blocks",
        ],
    );
    let seed = args.seed();
    let dataset = args.text("dataset").unwrap_or("mnist").to_string();
    let default_epochs = if dataset == "digits" { 15 } else { 2 };
    let epochs: usize = args.get("epochs", default_epochs);
    let lr: f64 = args.get("lr", 2e-3);
    let batch_size: usize = args.get("batch-size", if dataset == "digits" { 32 } else { 64 });
    let base: usize = args.get("base-channels", 8);
    let blocks: usize = args.get("blocks", 1);
    if let Some(threads) = args.text("threads") {
        nnkit::tensor::set_num_threads(threads.parse()?);
    }
    let threads = nnkit::tensor::num_threads();
    let (train_set, test_set) = load_data(&args, &dataset, seed)?;
    eprintln!(
        "{dataset}: {} training and {} test images of {:?}; {threads} threads",
        train_set.len(),
        test_set.len(),
        train_set.sample_shape(),
    );

    let mut rng = Rng::seed_from(seed);
    let net: ResNet<f32> = ResNetConfig::new(BlockKind::Basic, vec![blocks; 3], 1, 10)
        .with_base_channels(base)
        .init(&mut rng)?;
    print_summary(&net, train_set.sample_shape());

    // Adam with a cosine schedule; cross-entropy and accuracy on the test
    // set after every epoch.
    let mut opt = AdamConfig::new(lr).init(net.named_parameters())?;
    let train = DataLoader::new(&train_set, batch_size)?.shuffle(seed);
    let test = DataLoader::new(&test_set, 500)?;
    let mut trainer = Trainer::classification(&net, &mut opt)
        .epochs(epochs)
        .seed(seed)
        .schedule(CosineAnnealingLr::new(epochs as u64, 0.0)?);
    let report = trainer.fit(&train, &test)?;
    let acc = trainer.evaluate(&test)?["accuracy"];
    let seconds = report.history.series("seconds").iter().sum::<f64>();
    eprintln!("test accuracy {:.2} % after {epochs} epochs", 100.0 * acc);
    let json = serde_json::json!({
        "example": "resnet_mnist",
        "dataset": dataset,
        "seed": seed,
        "threads": threads,
        "parameters": net.num_parameters(),
        "test_accuracy": acc,
        "epochs": epochs,
        "seconds_per_epoch": seconds / epochs.max(1) as f64,
    });
    println!("{json}");
    Ok(())
}
