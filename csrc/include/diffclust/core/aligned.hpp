// std::vector storage aligned to a cache line, for buffers that AVX-512 kernels
// load and store a full 64-byte register at a time (a register that straddles two
// lines costs two accesses).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace diffclust {

template <class T, std::size_t Align = 64>
struct AlignedAllocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = AlignedAllocator<U, Align>;
    };
    AlignedAllocator() noexcept = default;
    template <class U>
    AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Align))); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Align)); }
    friend bool operator==(const AlignedAllocator&, const AlignedAllocator&) noexcept { return true; }
    friend bool operator!=(const AlignedAllocator&, const AlignedAllocator&) noexcept { return false; }
};

template <class T>
using aligned_vector = std::vector<T, AlignedAllocator<T>>;

}  // namespace diffclust
