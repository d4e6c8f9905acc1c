// Every allocation of the gaze CLI is 64-byte aligned.
//
// Why: Eigen's vectorised reductions (the sums inside softmax and layer norm)
// first peel scalar elements up to an aligned address, so the order in which a
// row is summed, and hence its last bits, depends on where malloc placed the
// buffer. Placed on 64 bytes (the widest vector, AVX-512), every buffer starts
// aligned, and the same input gives the same bits in every process: what lets
// `gaze census` under mpirun, or resumed after a crash, write the file of one
// uninterrupted run. The test binary links this file too (tests/CMakeLists.txt).
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

constexpr std::size_t kAlignment = 64;

void* allocate(std::size_t size) {
    const std::size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;  // aligned_alloc wants a multiple
    return std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
}

void* allocate_or_throw(std::size_t size) {
    for (;;) {
        if (void* p = allocate(size)) return p;
        std::new_handler handler = std::get_new_handler();
        if (!handler) throw std::bad_alloc();
        handler();
    }
}

}  // namespace

void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
