"""Device buffers exported without copy through DLPack (the CUDA backend; on a machine without a GPU,
the emulation build's backend, whose "device" memory is host memory exported as CPU memory)."""
import numpy as np
import pytest

import bidsim

SMALL = {"market.envs": 2, "market.steps": 3, "agents.count": 4, "impressions.per_step": 20}


def device_market():
    if not (bidsim.cuda_backend_built() and bidsim.cuda_device_present()):
        pytest.skip("no CUDA backend with a device (the emulation build runs this test)")
    market = bidsim.Market("bpg-10", overrides=SMALL, seed=2, device="cuda")
    market.reset()
    market.step(np.full((2, 4), 0.9, dtype=np.float32))
    return market


def test_device_buffers_are_exported_without_copy():
    market = device_market()
    exported = market.device_array("step_reward")
    assert exported.shape == [2, 4]
    kind, _ = exported.__dlpack_device__()
    if kind != 1:  # kDLCPU: only the emulation build's buffers are host memory NumPy can take
        pytest.skip("device memory: NumPy cannot import it (torch.from_dlpack can)")
    first = np.from_dlpack(exported)
    again = np.from_dlpack(market.device_array("step_reward"))
    assert np.shares_memory(first, again)              # both views of the one engine buffer
    assert np.array_equal(first, market.step_reward)   # and equal to the host copy of the state
    observation = np.from_dlpack(market.device_array("observation"))
    assert observation.shape == (2, 4, 12) and np.array_equal(observation, market.observation)


def test_torch_takes_the_buffer_without_copy():
    torch = pytest.importorskip("torch")
    market = device_market()
    tensor = torch.from_dlpack(market.device_array("reward"))
    again = torch.from_dlpack(market.device_array("reward"))
    assert tensor.data_ptr() == again.data_ptr()
    assert np.array_equal(tensor.cpu().numpy(), market.reward)
