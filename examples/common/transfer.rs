//! Host-to-device copies that do not wait for the GPU. A plain copy from pageable host memory makes
//! libtorch synchronise the stream (it returns only when the copy, and so everything queued before it,
//! has run), which once a step keeps the host from queueing ahead of the GPU.

use tch::{Device, Tensor};

/// `t` (a CPU tensor) on `device`, copied from pinned memory without blocking (queued on the current
/// stream; libtorch's pinned allocator keeps the block until the copy has run). On the CPU: `t` itself.
pub fn to_device_async(t: &Tensor, device: Device) -> Tensor {
    if !device.is_cuda() {
        return t.to_device(device);
    }
    let pinned = if t.is_pinned(device) { t.shallow_clone() } else { t.pin_memory(device) };
    pinned.to_device_(device, t.kind(), true, false)
}
