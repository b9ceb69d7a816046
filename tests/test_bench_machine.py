"""bench/_machine.py: the machine facts every benchmark records beside its numbers."""

import torch

from bench._machine import cpu_model, machine_info


def test_machine_info_names_the_cpu_and_the_isa_torch_uses(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338\n")
    assert cpu_model(cpuinfo) == "Intel(R) Xeon(R) Gold 6338"
    assert cpu_model(tmp_path / "absent") is None  # not Linux, or unreadable: recorded as unknown, no error
    info = machine_info("float32")
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and info["dtype"] == "float32"
    assert info["gpu"] is None or isinstance(info["gpu"], str)
