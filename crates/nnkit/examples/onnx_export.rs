//! Trains the MNIST MLP (784-256-128-10), exports it as ONNX (opset 17),
//! loads the file back and checks that it classifies the test set exactly
//! as the trained model does, then prints the command that runs the file
//! in onnxruntime.
//!
//! `cargo run --release -p nnkit --example onnx_export -- [--data DIR] [--epochs N] [--out FILE] [--seed N]`

mod common;

use std::path::PathBuf;

use nnkit::onnx::{export, Model};
use nnkit::prelude::*;
use nnkit::train::Trainer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("onnx_export", &["data", "epochs", "out"]);
    let seed = args.seed();
    let epochs: usize = args.get("epochs", 2);
    let out = args
        .text("out")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mlp_mnist.onnx"));

    // MNIST, normalised as in PyTorch's example.
    let dir = common::mnist_dir(&args);
    let mnist = load_mnist_splits(Some(&dir), ImageLayout::Flat, MnistNormalization::MeanStd)?;
    let (train_set, test_set) = mnist.into_datasets();
    let train = DataLoader::new(&train_set, 128)?.shuffle(seed);
    let test = DataLoader::new(&test_set, 1000)?;

    // Train.
    let mut rng = Rng::seed_from(seed);
    let model = Sequential::new()
        .append(LinearConfig::new(784, 256).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(256, 128).init(&mut rng)?)
        .append(Relu)
        .append(LinearConfig::new(128, 10).init(&mut rng)?);
    let mut opt = AdamConfig::new(1e-3).init(model.named_parameters())?;
    let mut trainer = Trainer::classification(&model, &mut opt)
        .epochs(epochs)
        .seed(seed);
    trainer.fit(&train, &test)?;
    let accuracy = trainer.evaluate(&test)?["accuracy"];
    eprintln!("trained: test accuracy {:.2} %", 100.0 * accuracy);

    // Export: the example input fixes the feature size; the batch size
    // stays symbolic in the file. Parameters keep their names (0.weight, ...).
    model.eval();
    let example = Tensor::zeros(&[1, 784]);
    export(&model, &example, &out)?;
    eprintln!(
        "wrote {} ({} bytes)",
        out.display(),
        std::fs::metadata(&out)?.len()
    );

    // Load the file back and classify the test set with it: every
    // prediction the same as the trained model's.
    let onnx = Model::load(&out)?;
    let (mut agree, mut total) = (0, 0);
    for batch in test.epoch(0) {
        let x = batch?.features;
        let ours = model.forward(&x).argmax(1);
        let theirs = onnx.run(&[x])?[0].argmax(1);
        agree += ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
        total += ours.len();
    }
    eprintln!("the file agrees with the model on {agree} of {total} test images");

    eprintln!("run it in onnxruntime (pip install onnxruntime numpy):");
    eprintln!(
        "  python3 -c \"import numpy as np, onnxruntime as ort; s = ort.InferenceSession('{}'); \
print(s.run(None, {{'input': np.random.rand(3, 784).astype(np.float32)}})[0].argmax(1))\"",
        out.display()
    );
    let json = serde_json::json!({
        "example": "onnx_export",
        "seed": seed,
        "epochs": epochs,
        "test_accuracy": accuracy,
        "file": out.display().to_string(),
        "predictions_agreeing": agree,
        "test_images": total,
    });
    println!("{json}");
    if agree != total {
        return Err("the exported file classifies differently".into());
    }
    Ok(())
}
