// libtorch's current CUDA stream, through c10's own functions resolved at run time (dlsym by the Rust side),
// so the crate links without libc10_cuda and runs where it is absent. This file includes no libtorch or
// CUDA header: `Stream` mirrors c10::cuda::CUDAStream, a trivially copyable {c10::Device (two int8_t),
// c10::StreamId (int64_t)} value class that the Itanium C++ ABI passes and returns in registers exactly
// like this struct (checked against libtorch's headers by shim/c10_layout_check.cpp when they are found
// at build time). Every call is wrapped in try/catch: a c10::Error must not unwind into Rust.
#include <stdint.h>
#include <string.h>

#include <cxxabi.h>

#include <exception>

namespace {

struct Stream {
    int8_t device_type;
    int8_t device_index;
    int64_t id;
};

using GetCurrent = Stream (*)(int8_t device_index);            // c10::cuda::getCurrentCUDAStream
using GetDefault = Stream (*)(int8_t device_index);            // c10::cuda::getDefaultCUDAStream
using GetFromPool = Stream (*)(bool high_priority, int8_t);    // c10::cuda::getStreamFromPool
using SetCurrent = void (*)(Stream);                           // c10::cuda::setCurrentCUDAStream
using NativeHandle = void* (*)(const Stream* self);            // c10::cuda::CUDAStream::stream() const

void describe(char* buf, size_t len, const char* what) {
    if (len == 0) return;
    strncpy(buf, what, len - 1);
    buf[len - 1] = '\0';
}

template <typename F>
int guarded(char* err, size_t err_len, F&& f) {
    try {
        f();
        return 0;
    } catch (abi::__forced_unwind&) {
        throw;  // thread cancellation must keep unwinding
    } catch (const std::exception& e) {
        describe(err, err_len, e.what());
    } catch (...) {
        describe(err, err_len, "a C++ exception that is not a std::exception");
    }
    return 1;
}

}  // namespace

// The cudaStream_t of libtorch's current stream on `device` for the calling thread (nullptr: the legacy
// default stream). Returns 0, or 1 with a message in `err`.
extern "C" int mixcut_torch_current_stream(const void* get_current, const void* native, int8_t device, void** out,
                                           char* err, size_t err_len) {
    return guarded(err, err_len, [&] {
        const Stream s = reinterpret_cast<GetCurrent>(get_current)(device);
        *out = reinterpret_cast<NativeHandle>(native)(&s);
    });
}

// Makes a pool stream (`pool` != 0) or the default stream libtorch's current stream on `device` for the
// calling thread. Returns 0, or 1 with a message in `err`.
extern "C" int mixcut_torch_set_stream(const void* get_from_pool, const void* get_default, const void* set_current,
                                       int8_t device, int pool, char* err, size_t err_len) {
    return guarded(err, err_len, [&] {
        const Stream s = pool ? reinterpret_cast<GetFromPool>(get_from_pool)(false, device)
                              : reinterpret_cast<GetDefault>(get_default)(device);
        reinterpret_cast<SetCurrent>(set_current)(s);
    });
}
