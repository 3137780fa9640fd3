// Build-time check (compiled only, never linked into anything that runs) that shim/torch_stream.cpp's
// mirror of c10::cuda::CUDAStream has the class's size, alignment and calling convention.
#include <c10/cuda/CUDAStream.h>

#include <type_traits>

struct Mirror {
    int8_t device_type;
    int8_t device_index;
    int64_t id;
};

static_assert(sizeof(c10::cuda::CUDAStream) == sizeof(Mirror), "c10::cuda::CUDAStream changed size");
static_assert(alignof(c10::cuda::CUDAStream) == alignof(Mirror), "c10::cuda::CUDAStream changed alignment");
static_assert(sizeof(c10::DeviceIndex) == 1 && sizeof(c10::DeviceType) == 1 && sizeof(c10::StreamId) == 8,
              "c10's device or stream id types changed size");
// Trivially copyable and destructible: passed and returned in registers, like Mirror.
static_assert(std::is_trivially_copyable<c10::cuda::CUDAStream>::value, "CUDAStream is no longer trivially copyable");
static_assert(std::is_trivially_destructible<c10::cuda::CUDAStream>::value, "CUDAStream gained a destructor");
// The function signatures the shim calls through pointers.
static_assert(std::is_same<decltype(&c10::cuda::getCurrentCUDAStream), c10::cuda::CUDAStream (*)(c10::DeviceIndex)>::value, "");
static_assert(std::is_same<decltype(&c10::cuda::getDefaultCUDAStream), c10::cuda::CUDAStream (*)(c10::DeviceIndex)>::value, "");
static_assert(std::is_same<decltype(&c10::cuda::setCurrentCUDAStream), void (*)(c10::cuda::CUDAStream)>::value, "");
static_assert(std::is_same<decltype(&c10::cuda::CUDAStream::stream), cudaStream_t (c10::cuda::CUDAStream::*)() const>::value, "");

// getStreamFromPool is overloaded (bool or int priority): the shim calls the (bool, DeviceIndex) one.
inline void mixcut_check_pool_overload() {
    (void)static_cast<c10::cuda::CUDAStream (*)(bool, c10::DeviceIndex)>(&c10::cuda::getStreamFromPool);
}

int mixcut_c10_layout_checked;
