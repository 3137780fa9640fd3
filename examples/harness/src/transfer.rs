//! Host-to-device copies that do not wait for the GPU. A plain copy from pageable host memory makes
//! libtorch synchronise the stream (it returns only when the copy, and so everything queued before it,
//! has run), which once a step keeps the host from queueing ahead of the GPU.

use tch::{Device, Tensor};

/// `t` (a CPU tensor) on `device`, through a pinned copy of it and a copy that does not block (queued on
/// the current stream; libtorch's pinned allocator keeps the pinned block until that copy has run). On
/// the CPU: `t` itself.
pub fn to_device_async(t: &Tensor, device: Device) -> Tensor {
    if !device.is_cuda() {
        return t.to_device(device);
    }
    pinned(t, device).to_device_(device, t.kind(), true, false)
}

/// A pinned copy of `t` for copies to `device`. Through aten's `_pin_memory`: `pin_memory(device)`, which
/// tch always calls with a device, prints a deprecation warning from libtorch 2.11 on every call.
fn pinned(t: &Tensor, device: Device) -> Tensor {
    t.internal_pin_memory(device)
}
