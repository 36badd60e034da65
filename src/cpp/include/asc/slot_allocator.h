// SlotAllocator: hands out row indices ("slots") of a fixed-size device tier.
//
// Slots are issued from a free list of released slots first (LIFO, so a hot
// reused row stays in cache), then from a high-water mark. Growing the
// capacity only moves the upper bound: slots already issued never move.
//
// Thread-safety: none. The owner (Table) serialises access.
#pragma once

#include <cstdint>
#include <vector>

namespace asc {

class SlotAllocator {
 public:
  explicit SlotAllocator(int64_t capacity) : capacity_(capacity) {}

  int64_t capacity() const { return capacity_; }
  int64_t used() const { return high_water_ - static_cast<int64_t>(free_.size()); }
  int64_t available() const { return capacity_ - used(); }

  // Returns a free slot. Precondition: available() > 0.
  int64_t Allocate() {
    if (!free_.empty()) {
      int64_t s = free_.back();
      free_.pop_back();
      return s;
    }
    return high_water_++;
  }

  // Returns `slot` to the free list. Precondition: slot is currently issued.
  void Release(int64_t slot) { free_.push_back(slot); }

  // Raises the capacity. Precondition: new_capacity >= capacity().
  void Grow(int64_t new_capacity) { capacity_ = new_capacity; }

 private:
  int64_t capacity_;
  int64_t high_water_ = 0;     // slots [0, high_water_) were issued at least once
  std::vector<int64_t> free_;  // released slots below high_water_
};

}  // namespace asc
