#!/usr/bin/env python3
"""PyTorch (CPU) twin of `digit-lab bench --model ae|vae|classifier`.

The same models (docs/PROTOCOL.md "Models"; src/model/), the same training step (forward, loss,
backward, Adam with L2 weight decay added to the gradients: PyTorch's `Adam(weight_decay=...)`),
the same batch sizes and random inputs. Prints one JSON object like `digit-lab bench`.
Used by scripts/bench-vs-pytorch; the project itself never depends on PyTorch.

`--flops` prints the FLOPs of one training sample per model instead (computed from the layer
shapes, see `train_flops`), and `--peak` a measured large-SGEMM rate for the thread count.
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- models -----------------------------------------------------------------------------------


class Encoder(nn.Module):
    """src/model/conv_ae.rs `Encoder`: three 3x3 stride-2 convs, dropout, two linears."""

    def __init__(self, c1=8, c2=16, c3=64, fc=64, code=2, dropout=0.1):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, stride=2, padding=0)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(c3 * 9, fc)
        self.fc2 = nn.Linear(fc, code)

    def features(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x)).flatten(1)
        return F.relu(self.fc1(self.dropout(x)))

    def forward(self, x):
        return self.fc2(self.features(x))


class Decoder(nn.Module):
    """src/model/conv_ae.rs `Decoder`: two linears, three 3x3 stride-2 transposed convs."""

    def __init__(self, c1=8, c2=16, c3=64, fc=64, code=2):
        super().__init__()
        self.c3 = c3
        self.fc1 = nn.Linear(code, fc)
        self.fc2 = nn.Linear(fc, c3 * 9)
        self.deconv1 = nn.ConvTranspose2d(c3, c2, 3, stride=2, padding=0)
        self.deconv2 = nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1)
        self.deconv3 = nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1)

    def forward(self, z):
        x = F.relu(self.fc1(z))
        x = F.relu(self.fc2(x)).view(-1, self.c3, 3, 3)
        x = F.relu(self.deconv1(x))
        x = F.relu(self.deconv2(x))
        return torch.sigmoid(self.deconv3(x))


class ConvAe(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, x):
        return self.decoder(self.encoder(x))


class Vae(nn.Module):
    """src/model/vae.rs: 4x4 stride-2 convs 32/64, mu and log-variance on 3136 features."""

    def __init__(self, latent=2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 4, stride=2, padding=1)
        self.mu = nn.Linear(3136, latent)
        self.logvar = nn.Linear(3136, latent)
        self.dec_fc = nn.Linear(latent, 3136)
        self.deconv1 = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
        self.deconv2 = nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1)

    def loss(self, x, eps):
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h)).flatten(1)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * eps
        d = F.relu(self.dec_fc(z)).view(-1, 64, 7, 7)
        d = F.relu(self.deconv1(d))
        logits = self.deconv2(d)
        n = x.shape[0]
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
        kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1).mean()
        return recon + kl


class Classifier(nn.Module):
    """src/model/classifier.rs `ClassifierConfig::best()`: the wider encoder, head on features."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder(c1=32, c2=64, c3=64, fc=128, dropout=0.3)
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.encoder.features(x))


# Per model: (batch size, weight decay), as `digit-lab bench` and src/train/tasks.rs.
SETTINGS = {"ae": (256, 1e-5), "vae": (128, 1.5e-2), "classifier": (128, 1e-5)}
DESCRIBE = {
    "ae": "ConvAE (c1=8, c2=16, c3=64, fc=64, code=2)",
    "vae": "VAE (conv 32/64, 4x4, latent 2)",
    "classifier": "best classifier (c1=32, c2=64, c3=64, fc=128)",
}


def make_step(name, batch):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, 28, 28, generator=g)
    _, decay = SETTINGS[name]
    model = {"ae": ConvAe, "vae": Vae, "classifier": Classifier}[name]()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=decay)
    if name == "ae":
        loss_fn = lambda: F.mse_loss(model(x), x)  # noqa: E731
    elif name == "vae":
        eps = torch.randn(batch, 2, generator=g)
        loss_fn = lambda: model.loss(x, eps)  # noqa: E731
    else:
        labels = torch.randint(0, 10, (batch,), generator=g)
        loss_fn = lambda: F.cross_entropy(model(x), labels)  # noqa: E731

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss.item()

    return step


# --- FLOPs ------------------------------------------------------------------------------------


def conv_macs(cin, cout, k, out_side):
    return cin * cout * k * k * out_side * out_side


def train_flops(name):
    """FLOPs of one training sample: 2 per multiply-add; each conv/linear layer costs its
    forward MACs three times (forward, input gradient, weight gradient), except that the first
    layer needs no input gradient. A transposed conv's MACs are those of the conv it inverts.
    Element-wise work (activations, loss, Adam) is left out: it is < 2 % of these."""
    if name == "ae":
        c1, c2, c3, fc = 8, 16, 64, 64
        first = conv_macs(1, c1, 3, 14)
        rest = [
            conv_macs(c1, c2, 3, 7),
            conv_macs(c2, c3, 3, 3),
            c3 * 9 * fc,
            fc * 2,
            2 * fc,
            fc * c3 * 9,
            conv_macs(c2, c3, 3, 3),  # deconv1: 64x3x3 -> 16x7x7
            conv_macs(c1, c2, 3, 7),  # deconv2: 16x7x7 -> 8x14x14
            conv_macs(1, c1, 3, 14),  # deconv3: 8x14x14 -> 1x28x28
        ]
    elif name == "vae":
        first = conv_macs(1, 32, 4, 14)
        rest = [
            conv_macs(32, 64, 4, 7),
            2 * 3136 * 2,
            2 * 3136,
            conv_macs(32, 64, 4, 7),  # deconv1
            conv_macs(1, 32, 4, 14),  # deconv2
        ]
    else:
        c1, c2, c3, fc = 32, 64, 64, 128
        first = conv_macs(1, c1, 3, 14)
        rest = [conv_macs(c1, c2, 3, 7), conv_macs(c2, c3, 3, 3), c3 * 9 * fc, fc * 10]
    return 2 * (2 * first + 3 * sum(rest))


def sgemm_gflops(seconds=1.0):
    """A large f32 matrix product's rate: the CPU's practical peak for this thread count."""
    a = torch.rand(2048, 2048)
    b = torch.rand(2048, 2048)
    for _ in range(3):
        a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=list(SETTINGS), default="ae")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--flops", action="store_true", help="print FLOPs per training sample")
    p.add_argument("--peak", action="store_true", help="print a large SGEMM's GFLOP/s")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # as the native trainer (src/train/denormals.rs)
    if a.flops:
        print(json.dumps({m: train_flops(m) for m in SETTINGS}))
        return
    if a.peak:
        print(json.dumps({"threads": a.threads, "sgemm_gflops": sgemm_gflops()}))
        return
    torch.manual_seed(0)
    batch = a.batch_size or SETTINGS[a.model][0]
    step = make_step(a.model, batch)
    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - start
    sps = a.steps * batch / seconds
    print(
        json.dumps(
            {
                "model": DESCRIBE[a.model],
                "backend": f"pytorch {torch.__version__} cpu",
                "threads": torch.get_num_threads(),
                "batch_size": batch,
                "steps": a.steps,
                "seconds": seconds,
                "samples_per_second": sps,
                "epoch_seconds": 50_000 / sps,
            }
        )
    )


if __name__ == "__main__":
    main()
