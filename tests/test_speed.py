"""The recipe-neutral speed options of `train()`: channels_last and torch.compile change the
order of floating-point sums and nothing else, stay out of run keys, and resume either way.

Tolerances (measured on the development CPU, 4 SGD steps at lr 0.1 from the same weights):
- channels_last, in float64: 6e-16 (VGG) and 7e-14 (ResNet-20, whose steps at lr 0.1 amplify
  rounding most; 9e-11 at full width) from the plain run; asserted atol 1e-8 (FLOAT64_ATOL), also
  for plain -> options -> plain resumes. In float32 it is not close on the CPU:
  PyTorch's CPU BatchNorm computes channels_last statistics less precisely (one step's gradients
  ~1% off, pytorch/pytorch#121651; `ChannelsLastOnCPU`), so the math is checked in float64, where
  rounding cannot hide a real difference.
- torch.compile, in float32: 4e-7 from the plain run; asserted atol 1e-5.
"""
import warnings

import pytest
import torch
from torch import nn

import rethinkkit as rk
from rethinkkit import train as train_mod
from rethinkkit.config import Recipe
from rethinkkit.train import ChannelsLastOnCPU, CompileFailed, speed_options, train

pytestmark = [
    pytest.mark.usefixtures("one_thread"),  # small CPU batches: threads only wait on a busy machine
    pytest.mark.filterwarnings("ignore::rethinkkit.train.ChannelsLastOnCPU"),  # its own test below
]
STEPS_RECIPE = dict(milestones=(), lr=0.1)  # lr 0.1 throughout: differences grow fastest there
FLOAT64_ATOL = 1e-8


class Float64(nn.Module):
    """The model in float64, fed the float32 batches: rounding 1e-16 instead of 1e-7."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner.double()

    def forward(self, x):
        return self.inner(x.double())


def build(name: str, float64: bool = False) -> nn.Module:
    torch.manual_seed(0)
    name = {"vgg": "vgg11"}.get(name, name)  # a small VGG: VGG-11; both at a quarter of their prunable widths
    model = rk.models.build(name, cfg=rk.models.uniform_cfg(name, 0.75), num_classes=10, in_channels=1)
    return Float64(model) if float64 else model


@pytest.fixture(scope="module")
def four_steps(mini):
    """256 training images: 4 steps of batch 64 per epoch."""
    return mini.subset(n_train=256, n_test=64, seed=0)


def largest_difference(a: nn.Module, b: nn.Module) -> float:
    """Max |a - b| over every weight and buffer; integer buffers (BN's batch count) must be equal."""
    worst = 0.0
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        if x.is_floating_point():
            worst = max(worst, (x.double() - y.double()).abs().max().item())
        else:
            assert torch.equal(x, y), name
    return worst


def test_speed_options_come_from_arguments_else_the_environment(monkeypatch):
    monkeypatch.delenv(train_mod.CHANNELS_LAST_ENV, raising=False)
    monkeypatch.delenv(train_mod.COMPILE_ENV, raising=False)
    assert speed_options() == (False, False)
    monkeypatch.setenv(train_mod.CHANNELS_LAST_ENV, "1")
    monkeypatch.setenv(train_mod.COMPILE_ENV, "0")
    assert speed_options() == (True, False)
    assert speed_options(channels_last=False, compile=True) == (False, True)  # an argument wins
    monkeypatch.setenv(train_mod.COMPILE_ENV, "fast")
    with pytest.raises(ValueError, match=r"\$RETHINKKIT_COMPILE is 'fast'; set it to 1 \(on\) or 0 \(off\)"):
        speed_options()
    with pytest.raises(TypeError, match="channels_last must be True, False or None"):
        speed_options(channels_last="yes", compile=False)


def test_speed_options_are_not_part_of_a_run_key(monkeypatch, store, mini):
    """Set for a whole process by environment variable, they leave the spec and its key alone:
    a run trained with them is the same run without them, found and not trained again."""
    spec = rk.config.RunSpec(dataset="fashion-mnist-mini", model="resnet20", cfg=[4] * 3 + [8] * 3 + [16] * 3,
                             recipe=Recipe(epochs=1, milestones=()), train_subset=256)
    monkeypatch.setenv(train_mod.CHANNELS_LAST_ENV, "1")
    trained = store.get_or_run(spec, 0, data=mini)
    monkeypatch.delenv(train_mod.CHANNELS_LAST_ENV)
    monkeypatch.setattr(rk.runs, "train", lambda *a, **k: pytest.fail("the run was trained again"))
    found = store.get_or_run(spec, 0, data=mini)
    assert found.key == trained.key == f"{spec.key()}/seed0"
    assert all(v.is_contiguous() for v in found.state_dict().values())  # stored in the ordinary format


@pytest.mark.parametrize("name", ["resnet20", "vgg"])
def test_channels_last_is_the_same_math(name, four_steps):
    plain, fast = build(name, float64=True), build(name, float64=True)
    train(plain, four_steps, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=False, compile=False)
    train(fast, four_steps, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=True, compile=False)
    assert largest_difference(plain, fast) < FLOAT64_ATOL
    assert all(p.is_contiguous() for p in fast.parameters())  # returned in the ordinary memory format


def test_channels_last_on_the_cpu_warns_that_it_is_less_precise(four_steps):
    one_step = four_steps.subset(n_train=64, n_test=64, seed=0)
    with pytest.warns(ChannelsLastOnCPU, match="less precisely.*on CUDA, or together with compile=True"):
        train(build("vgg"), one_step, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=True, compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChannelsLastOnCPU)
        train(build("vgg"), one_step, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=False, compile=False)


@pytest.mark.slow
def test_compile_is_the_same_math_within_float32_rounding(four_steps):
    plain, fast = build("vgg"), build("vgg")
    train(plain, four_steps, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=False, compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileFailed)  # this machine has a C++ compiler: it must compile
        train(fast, four_steps, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=False, compile=True)
    assert 0 < largest_difference(plain, fast) < 1e-5  # not 0: the compiled kernels really ran


@pytest.mark.parametrize("options", [
    dict(channels_last=True, compile=False),
    pytest.param(dict(channels_last=True, compile=True), marks=pytest.mark.slow),
], ids=["channels_last", "channels_last+compile"])
def test_resumes_from_and_into_plain_checkpoints(options, four_steps, tmp_path):
    """Epoch 1 plain, epoch 2 with the options (resuming the plain checkpoint), epoch 3 plain
    again (resuming theirs): the same weights as 3 plain epochs, and plain checkpoints throughout."""
    recipe = Recipe(epochs=3, **STEPS_RECIPE)
    reference = build("vgg", float64=True)
    train(reference, four_steps, recipe, seed=0, channels_last=False, compile=False)
    checkpoint = tmp_path / "checkpoint.pt"
    plain_keys = list(build("vgg", float64=True).state_dict())
    for epochs, opts in ((1, {}), (2, options), (3, {})):
        model = build("vgg", float64=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileFailed)
            train(model, four_steps, Recipe(epochs=epochs, **STEPS_RECIPE), seed=0,
                  **{"channels_last": False, "compile": False, **opts}, checkpoint=checkpoint)
        saved = torch.load(checkpoint, weights_only=True)
        assert saved["epoch"] == epochs and list(saved["model"]) == plain_keys  # no `_orig_mod.` prefixes
    assert largest_difference(reference, model) < FLOAT64_ATOL


def test_compile_compiles_every_architecture_of_a_pipeline(four_steps, monkeypatch):
    """torch.compile keeps at most 8 shapes of one model class per process and then runs eagerly
    without an error; a pipeline trains more architectures than that, so each training compiles
    afresh. (The eager backend traces with the real compiler front end, without C++ builds.)"""
    compiled = []

    def recording_backend(graph, example_inputs):
        compiled.append(graph)
        return graph.forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module: real_compile(module, backend=recording_backend))
    one_step = four_steps.subset(n_train=64, n_test=64, seed=0)
    widths = range(1, 11)  # 10 architectures, over the limit of 8
    for width in widths:
        model = rk.models.build("vgg11", cfg=[width, "M", width, "M", width, width, "M", width, width, "M", width, width],
                                num_classes=10, in_channels=1)
        train(model, one_step, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=False, compile=True)
    assert len(compiled) >= len(widths)


def test_compile_falls_back_to_the_plain_step_with_a_warning(four_steps, monkeypatch):
    """A machine without a working C++ compiler: training goes on uncompiled, bit-identical to
    training without the option, after one warning that says why and what to do."""
    import torch._dynamo
    import torch._inductor.config

    torch._dynamo.reset()  # compiled code from earlier tests would not need the compiler
    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", ("no-such-c++-compiler",))
    plain, fast = build("vgg"), build("vgg")
    train(plain, four_steps, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=False, compile=False)
    with pytest.warns(CompileFailed, match=r"could not compile.*continues without it.*C\+\+ compiler.*RETHINKKIT_COMPILE") as caught:
        train(fast, four_steps, Recipe(epochs=1, **STEPS_RECIPE), seed=0, channels_last=False, compile=True)
    assert len([w for w in caught if issubclass(w.category, CompileFailed)]) == 1
    assert largest_difference(plain, fast) == 0.0
    torch._dynamo.reset()
