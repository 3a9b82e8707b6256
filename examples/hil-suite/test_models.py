"""Hardware-in-the-loop tests of the shipped models: outputs, throughput, batch sizes.

Run on the simulated accelerator (``pytest examples/hil-suite -n 2``) or on boards
(``--dfx-target lab --dfx-lab lab.yaml``); the same tests, the same checks.
"""

from __future__ import annotations

import numpy as np
import pytest

BIT_EXACT = ["cybsec-mlp-w2a2", "tfc-w1a1"]  # outputs are integers: compared bit for bit


def frames(array: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` frames of ``array``, repeated as often as needed."""
    reps = -(-n // len(array))
    return np.concatenate([array] * reps)[:n]


@pytest.mark.parametrize("name", BIT_EXACT)
def test_outputs_are_bit_exact(name, example, accelerator, dfx_metrics):
    ex = example(name)
    accel = accelerator(ex.build)
    dfx_metrics.check_outputs(accel.execute(ex.inputs), ex.expected)


def test_digits_outputs_and_accuracy(example, accelerator, dfx_metrics):
    ex = example("digits-w4a4")
    out = accelerator(ex.build).execute(ex.inputs, postprocess=True)
    # the hardware's integer outputs, then the model's float scale and bias (float32)
    dfx_metrics.check_outputs(out, ex.expected, atol=1e-4)
    assert (out.argmax(1) == ex.expected.argmax(1)).all()
    accuracy = float((out.argmax(1) == ex.labels).mean())
    dfx_metrics.record(accuracy=accuracy)
    assert accuracy > 0.9


@pytest.mark.parametrize("name", [*BIT_EXACT, "digits-w4a4"])
def test_throughput_within_2_percent_of_the_estimate(name, example, accelerator):
    ex = example(name)
    res = accelerator(ex.build).throughput_test(batch_size=1000)
    estimate = ex.build.estimate["estimated_throughput_fps"]
    assert res["batch_size"] == 1000
    assert res["throughput[images/s]"] == pytest.approx(estimate, rel=0.02)


@pytest.mark.parametrize("batch_size", [1, 10, 100, 1000])
def test_batch_size_sweep(batch_size, example, accelerator, dfx_metrics):
    ex = example("cybsec-mlp-w2a2")
    accel = accelerator(ex.build)
    dfx_metrics.check_outputs(accel.execute(frames(ex.inputs, batch_size)),
                              frames(ex.expected, batch_size))
    one = accel.throughput_test(1)  # one frame: the latency
    res = accel.throughput_test(batch_size)
    estimate = ex.build.estimate
    # never faster than the slowest layer allows
    assert res["throughput[images/s]"] <= estimate["estimated_throughput_fps"] * 1.02
    if "cycles" in res:  # the simulator counts cycles: past the first frame, each frame
        extra = (batch_size - 1) * estimate["max_cycles"]  # costs the slowest layer's
        assert res["cycles"] - one["cycles"] == pytest.approx(extra, rel=0.02,
                                                              abs=estimate["max_cycles"])


@pytest.mark.dfx_board("Pynq-Z2")
def test_on_a_pynq_z2(example, accelerator, dfx_metrics, dfx_target):
    """Runs only on a Pynq-Z2 of the lab (skipped on sim, with the reason)."""
    ex = example("tfc-w1a1")
    accel = accelerator(ex.build)
    assert ex.build.board == "Pynq-Z2"  # the build was made for the lab's board
    dfx_metrics.check_outputs(accel.execute(ex.inputs), ex.expected)
    assert accel.latency_ms() > 0
