//! `#[derive(Module)]`: names as PyTorch's `state_dict`, every kind of
//! field, nesting, train/eval propagation, generators and summaries.
//! (What must not compile is in the crate's `compile_fail` doc tests.)

use std::marker::PhantomData;

use nn_layers::prelude::*;
use nn_layers::{summary, Buffer, LayerRng, TrainFlag};

fn names<T: Element>(m: &dyn Module<T>) -> Vec<String> {
    m.state_dict().into_iter().map(|(n, _)| n).collect()
}

/// Every kind of field a leaf can hold.
#[derive(Module)]
#[module(name = "Everything", macs = Self::count_macs)]
struct Everything<T: Element> {
    weight: Parameter<T>,
    bias: Option<Parameter<T>>,
    absent_bias: Option<Parameter<T>>,
    taps: Vec<Parameter<T>>,
    running: Buffer<T>,
    history: Vec<Buffer<T>>,
    missing: Option<Buffer<T>>,
    #[module(name = "r#type")]
    renamed: Parameter<T>,
    training: TrainFlag,
    noise: LayerRng,
    #[module(skip)]
    width: usize,
    #[module(skip)]
    sampler: Rng,
    marker: PhantomData<T>,
}

impl<T: Element> Everything<T> {
    fn new(width: usize) -> Self {
        let p = || Parameter::new(Tensor::zeros(&[width]));
        Everything {
            weight: p(),
            bias: Some(p()),
            absent_bias: None,
            taps: vec![p(), p()],
            running: Buffer::new(Tensor::zeros(&[width])),
            history: vec![Buffer::new(Tensor::zeros(&[1]))],
            missing: None,
            renamed: p(),
            training: TrainFlag::default(),
            noise: LayerRng::new(Rng::seed_from(1)),
            width,
            sampler: Rng::seed_from(2),
            marker: PhantomData,
        }
    }

    fn count_macs(&self, _input: &[usize], output: &[usize]) -> Option<u64> {
        Some((output.iter().product::<usize>() * self.width) as u64)
    }
}

impl<T: Element> Forward<T> for Everything<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
        let _ = &self.sampler;
        x.try_mul(&self.weight.var())
    }
}

#[test]
fn every_kind_of_field_gets_its_pytorch_name() {
    let m = Everything::<f64>::new(3);
    assert_eq!(
        names(&m),
        [
            "weight",
            "bias",
            "taps.0",
            "taps.1",
            "r#type",
            "running",
            "history.0"
        ]
    );
    assert_eq!(m.num_parameters(), 5 * 3);
    assert_eq!(m.type_name(), "Everything");
    let rngs: Vec<String> = m.named_rngs().into_iter().map(|(n, _)| n).collect();
    assert_eq!(rngs, ["noise"]);
    assert!(m.is_training());
    m.eval();
    assert!(!m.training.get());
}

/// A block with normalisation and an optional projection, as ResNet's.
#[derive(Module)]
struct Block<T: Element> {
    fc: Linear<T>,
    norm: BatchNorm1d<T>,
    projection: Option<Linear<T>>,
}

/// A nested model: an encoder `Sequential`, a `ModuleList` of blocks, an
/// optional head; PyTorch names such a model's weights `encoder.0.weight`,
/// `blocks.1.norm.running_mean`, …
#[derive(Module)]
struct Net<T: Element> {
    encoder: Sequential<T>,
    blocks: Vec<Block<T>>,
    head: Option<Linear<T>>,
}

fn block<T: Element>(rng: &mut Rng, n: usize, project: bool) -> Block<T> {
    Block {
        fc: LinearConfig::new(n, n).init(rng).unwrap(),
        norm: BatchNormConfig::new(n)
            .init(&mut Rng::seed_from(0))
            .unwrap(),
        projection: project.then(|| LinearConfig::new(n, n).with_bias(false).init(rng).unwrap()),
    }
}

impl<T: Element> Forward<T> for Block<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
        let h = self.norm.try_forward(&self.fc.try_forward(x)?)?.relu();
        let skip = match &self.projection {
            Some(p) => p.try_forward(x)?,
            None => x.clone(),
        };
        h.try_add(&skip)
    }
}

impl<T: Element> Forward<T> for Net<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
        let mut h = self.encoder.try_forward(x)?;
        for b in &self.blocks {
            h = b.try_forward(&h)?;
        }
        match &self.head {
            Some(head) => head.try_forward(&h),
            None => Ok(h),
        }
    }
}

fn net<T: Element>(rng: &mut Rng, head: bool) -> Net<T> {
    Net {
        encoder: Sequential::new()
            .append(LinearConfig::new(3, 4).init(rng).unwrap())
            .append(DropoutConfig::new(0.5).init(rng).unwrap()),
        blocks: vec![block(rng, 4, false), block(rng, 4, true)],
        head: head.then(|| LinearConfig::new(4, 2).init(rng).unwrap()),
    }
}

#[test]
fn a_nested_model_is_named_as_pytorch_names_it() {
    let m = net::<f32>(&mut Rng::seed_from(0), true);
    let bn = |i: usize| {
        [
            format!("blocks.{i}.norm.running_mean"),
            format!("blocks.{i}.norm.running_var"),
            format!("blocks.{i}.norm.num_batches_tracked"),
        ]
    };
    let mut expected: Vec<String> = [
        "encoder.0.weight",
        "encoder.0.bias",
        "blocks.0.fc.weight",
        "blocks.0.fc.bias",
        "blocks.0.norm.weight",
        "blocks.0.norm.bias",
        "blocks.1.fc.weight",
        "blocks.1.fc.bias",
        "blocks.1.norm.weight",
        "blocks.1.norm.bias",
        "blocks.1.projection.weight",
        "head.weight",
        "head.bias",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(bn(0));
    expected.extend(bn(1));
    assert_eq!(names(&m), expected);

    // The tree as a summary or an exporter sees it.
    let mut children = Vec::new();
    m.visit_children(&mut |n, c| children.push(format!("{n}:{}", c.type_name())));
    assert_eq!(
        children,
        ["encoder:Sequential", "blocks:ModuleList", "head:Linear"]
    );

    // Without the optional head, its names are simply absent.
    let headless = net::<f32>(&mut Rng::seed_from(0), false);
    assert_eq!(names(&headless).len(), expected.len() - 2);
    assert!(!names(&headless).iter().any(|n| n.starts_with("head")));
}

#[test]
fn eval_reaches_every_descendant_and_train_restores_it() {
    let mut rng = Rng::seed_from(1);
    let m = net::<f64>(&mut rng, true);
    let x = Var::constant(Tensor::rand_normal(&[6, 3], 0.0, 1.0, &mut rng));
    m.eval();
    assert!(!m.is_training());
    assert!(!m.blocks[1].norm.is_training());
    assert!(!m.encoder.get(1).unwrap().is_training());
    // Dropout off and BatchNorm on running statistics: a deterministic
    // forward that leaves the statistics alone.
    let before = m.blocks[0].norm.state_dict();
    assert_eq!(m.forward(&x).value(), m.forward(&x).value());
    assert_eq!(m.blocks[0].norm.state_dict(), before);
    m.train();
    assert!(m.blocks[1].norm.is_training() && m.encoder.get(1).unwrap().is_training());
    m.forward(&x);
    assert_ne!(m.blocks[0].norm.state_dict(), before);
}

#[test]
fn gradients_reach_every_derived_parameter() {
    let mut rng = Rng::seed_from(2);
    let m = net::<f64>(&mut rng, true);
    let x = Var::constant(Tensor::rand_normal(&[5, 3], 0.0, 1.0, &mut rng));
    let grads = m.forward(&x).sum().backward();
    for (name, p) in m.named_parameters() {
        assert!(grads.get_id(p.id()).is_some(), "no gradient for {name}");
    }
}

#[test]
fn summary_counts_a_derived_model_and_reports_its_macs() {
    let mut rng = Rng::seed_from(3);
    let m = net::<f32>(&mut rng, true);
    let s = summary(&m, &[2, 3]).unwrap();
    assert_eq!(s.total_parameters, m.num_parameters());
    assert_eq!(s.rows[0].type_name, "Net");
    assert_eq!(s.rows.last().unwrap().output_shape, vec![2, 2]);

    let e = Everything::<f32>::new(3);
    let s = summary(&e, &[2, 3]).unwrap();
    assert_eq!(s.total_macs, 2 * 3 * 3);
    assert_eq!(s.rows[0].type_name, "Everything");
}

/// A model without a type parameter: its fields say `f32`, so it is a
/// `Module<f32>` and `eval()` needs no annotation.
#[derive(Module)]
struct Concrete {
    fc: Linear<f32>,
    drop: Dropout,
}

/// A wrapper generic over its parts, as the generative models are.
#[derive(Module)]
struct Pair<T: Element, E, D> {
    first: E,
    second: D,
    marker: PhantomData<T>,
}

/// A tuple struct: its fields are named by position, as `Sequential`'s.
#[derive(Module)]
struct Chain<T: Element>(Linear<T>, Linear<T>);

#[test]
fn concrete_generic_and_tuple_structs_derive_too() {
    let mut rng = Rng::seed_from(4);
    let c = Concrete {
        fc: LinearConfig::new(2, 2).init(&mut rng).unwrap(),
        drop: DropoutConfig::new(0.5).init(&mut rng).unwrap(),
    };
    c.eval();
    assert!(!c.is_training());
    assert_eq!(names(&c), ["fc.weight", "fc.bias"]);
    assert_eq!(c.named_rngs().len(), 1);

    let pair = Pair::<f64, Linear<f64>, Sequential<f64>> {
        first: LinearConfig::new(2, 3).init(&mut rng).unwrap(),
        second: Sequential::new().append(LinearConfig::new(3, 1).init(&mut rng).unwrap()),
        marker: PhantomData,
    };
    assert_eq!(
        names(&pair),
        [
            "first.weight",
            "first.bias",
            "second.0.weight",
            "second.0.bias"
        ]
    );

    let chain = Chain::<f64>(
        LinearConfig::new(2, 2).init(&mut rng).unwrap(),
        LinearConfig::new(2, 2)
            .with_bias(false)
            .init(&mut rng)
            .unwrap(),
    );
    assert_eq!(names(&chain), ["0.weight", "0.bias", "1.weight"]);
}

/// One of several modules: the enum is the variant present, transparently.
#[derive(Module)]
enum Body<T: Element> {
    Plain(Linear<T>),
    Deep { layers: Sequential<T> },
}

/// A model holding such an enum: its names go through the variant.
#[derive(Module)]
struct Regressor<T: Element> {
    body: Body<T>,
    head: Linear<T>,
}

#[test]
fn an_enum_of_modules_is_the_module_it_holds() {
    let mut rng = Rng::seed_from(5);
    let plain = Regressor::<f32> {
        body: Body::Plain(LinearConfig::new(2, 3).init(&mut rng).unwrap()),
        head: LinearConfig::new(3, 1).init(&mut rng).unwrap(),
    };
    assert_eq!(
        names(&plain),
        ["body.weight", "body.bias", "head.weight", "head.bias"]
    );
    assert_eq!(plain.body.type_name(), "Linear");
    assert_eq!(plain.training_state(), None);

    let deep = Regressor::<f32> {
        body: Body::Deep {
            layers: Sequential::new()
                .append(LinearConfig::new(2, 3).init(&mut rng).unwrap())
                .append(DropoutConfig::new(0.5).init(&mut rng).unwrap()),
        },
        head: LinearConfig::new(3, 1).init(&mut rng).unwrap(),
    };
    assert_eq!(
        names(&deep),
        ["body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    );
    assert_eq!(deep.body.type_name(), "Sequential");
    assert_eq!(deep.named_rngs().len(), 1);
    deep.eval();
    assert_eq!(deep.training_state(), Some(false));
}
