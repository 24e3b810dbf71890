// W1 / W1i of the benchmark suite's WORKLOADS.md (`../shared/bench/` beside the repository) in
// burn 0.22, to measure burn on the machine at hand: MLP 784-512-512-10, ReLU, softmax cross-entropy, f32, one fixed synthetic batch (seed 0);
// 20 warm-up steps, then about 12 s of timed steps (one batch throughout, where nabla's xtask
// rotates four); one JSON line (the peer record format) on
// stdout, details on stderr. Run through ../run_burn.sh.
// usage: burn-w1 <flex|ndarray> <sgd|adam|infer> [batch: 128 for training, 256 for inference]
#![allow(deprecated)] // Device::ndarray() is deprecated in 0.22 but still a supported backend

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::prelude::*;
use std::time::{Duration, Instant};

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
    act: Relu,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Self {
            l1: LinearConfig::new(784, 512).init(device),
            l2: LinearConfig::new(512, 512).init(device),
            l3: LinearConfig::new(512, 10).init(device),
            act: Relu::new(),
        }
    }
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.act.forward(self.l1.forward(x));
        let x = self.act.forward(self.l2.forward(x));
        self.l3.forward(x)
    }
}

// splitmix64 + Box-Muller: the same batch on every backend.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

fn status_field(name: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(name))
        .map(|l| l[name.len()..].trim().to_string())
        .unwrap_or_default()
}

fn cpu_seconds() -> f64 {
    // utime + stime of the whole process, in clock ticks (100 Hz)
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn thread_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    v.sort();
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("flex");
    let variant = args.get(2).map(String::as_str).unwrap_or("sgd");
    let batch: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(if variant == "infer" { 256 } else { 128 });

    let base = match backend {
        "flex" => Device::flex(),
        "ndarray" => Device::ndarray(),
        _ => panic!("backend must be flex or ndarray"),
    };
    base.seed(0);
    let device = if variant == "infer" { base.clone() } else { base.clone().autodiff() };

    let mut rng = Rng(0);
    let xs: Vec<f32> = (0..batch * 784).map(|_| rng.normal()).collect();
    let ys: Vec<i64> = (0..batch).map(|_| (rng.next_u64() % 10) as i64).collect();
    let x = Tensor::<2>::from_data(TensorData::new(xs, [batch, 784]), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(ys, [batch]), &device);

    let mut model = Mlp::new(&device);
    let ce = CrossEntropyLossConfig::new().init(&device);
    let (mut optim, lr) = match variant {
        "sgd" => (
            SgdConfig::new()
                .with_momentum(Some(MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov: false }))
                .init(),
            0.01,
        ),
        "adam" => (AdamConfig::new().init(), 1e-3),
        "infer" => (SgdConfig::new().init(), 0.0), // unused
        _ => panic!("variant must be sgd, adam or infer"),
    };

    let mut last_loss = f32::NAN;
    let mut step = |model: Mlp, read_loss: bool| -> Mlp {
        if variant == "infer" {
            let out = model.forward(x.clone());
            device.sync().unwrap();
            drop(out);
            return model;
        }
        let loss = ce.forward(model.forward(x.clone()), y.clone());
        if read_loss {
            last_loss = loss.clone().into_scalar::<f32>();
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = optim.step(lr, model, grads);
        device.sync().unwrap();
        model
    };

    for _ in 0..20 {
        model = step(model, false);
    }
    let mut times: Vec<f64> = Vec::new();
    let cpu0 = cpu_seconds();
    let t_all = Instant::now();
    while t_all.elapsed() < Duration::from_secs(12) {
        let t = Instant::now();
        model = step(model, false);
        times.push(t.elapsed().as_secs_f64());
    }
    let wall = t_all.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let threads_now = thread_names();
    model = step(model, true);
    drop(model);

    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        s[s.len() / 2]
    };
    let n = times.len();
    let med = median(&times);
    let med_first = median(&times[..n / 2]);
    let med_last = median(&times[n / 2..]);
    let rss_kb: f64 = status_field("VmHWM:").trim_end_matches("kB").trim().parse().unwrap();
    let (workload, fw) = (if variant == "infer" { "W1i" } else { "W1" }, format!("burn-{backend}"));
    let threads: usize = std::env::var("RAYON_NUM_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(0);
    eprintln!(
        "# {fw} {variant} batch={batch} steps={n} median={:.4}ms first_half={:.4}ms last_half={:.4}ms \
         cpu/wall={:.2} loss_end={last_loss} threads={:?}",
        med * 1e3, med_first * 1e3, med_last * 1e3, cpu / wall, threads_now
    );
    println!(
        "{{\"framework\":\"{fw}\",\"version\":\"0.22.1\",\"workload\":\"{workload}\",\"variant\":\"{variant}\",\
\"metric\":\"samples_per_s\",\"value\":{:.1},\"threads\":{threads},\"peak_rss_mb\":{:.1},\"batch\":{batch},\
\"median_ms\":{:.4},\"steps\":{n},\"build\":\"native\"}}",
        batch as f64 / med,
        rss_kb / 1024.0,
        med * 1e3
    );
}
