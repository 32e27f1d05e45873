"""The generator states a checkpoint carries: a resume restores what this process can and skips the rest."""

import numpy as np
import torch

from memgen import checkpoint


def test_resume_with_fewer_visible_gpus_than_the_saving_run(monkeypatch):
    """A run saved on 3 GPUs resumes where one is visible (or a CPU job on a multi-GPU box): device 0's state is
    restored, the others skipped, instead of an 'invalid device ordinal' from set_rng_state_all."""
    visible, restored = 1, []

    def set_state(new_state, device="cuda"):
        index = device if isinstance(device, int) else torch.device(device).index or 0
        if index >= visible:
            raise RuntimeError("CUDA error: invalid device ordinal")
        restored.append((index, new_state))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    monkeypatch.setattr(torch.cuda, "set_rng_state", set_state)
    monkeypatch.setattr(torch.cuda.random, "set_rng_state", set_state)  # what set_rng_state_all calls
    saved = [torch.full((16,), k, dtype=torch.uint8) for k in range(3)]
    torch.manual_seed(5)
    cpu = torch.get_rng_state()
    checkpoint.set_rng_state({"torch": cpu, "numpy": np.random.get_state(), "cuda": saved})
    assert [index for index, _ in restored] == [0] and torch.equal(restored[0][1], saved[0])
    assert torch.equal(torch.get_rng_state(), cpu)


def test_cpu_process_saves_no_cuda_state_and_restores_without_one(monkeypatch):
    """A process that never started CUDA saves none, even where GPUs are visible (get_rng_state_all would start
    CUDA on every one of them, in a CPU job)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert not torch.cuda.is_initialized()
    state = checkpoint.rng_state()
    assert "cuda" not in state and not torch.cuda.is_initialized()
    expected = torch.rand(3)
    checkpoint.set_rng_state(state)
    assert torch.equal(torch.rand(3), expected)
