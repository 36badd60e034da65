// Private to libasc: SampleRng, the pseudo-random draws of a table's sampled
// policies (host demotion victims, sampled-LFU device victims).
//
// One table owns one SampleRng and lends it to both policies, which draw from
// the same sequence in call order: a table's victims are a deterministic
// function of its calls (tests and BENCHMARKS.md rely on that), and giving
// each policy a generator of its own would change which victims an SSD table
// with the LFU policy picks.
//
// SplitMix64 (Steele, Lea, Flood 2014): a few cycles a draw, full 64-bit
// period, good enough for picking sample candidates.
//
// Thread-safety: none. The owner (Table) serialises access.
#pragma once

#include <cstdint>

namespace asc {
namespace internal {

class SampleRng {
 public:
  static constexpr uint64_t kDefaultSeed = 0x9e3779b97f4a7c15ULL;

  explicit SampleRng(uint64_t seed = kDefaultSeed) : state_(seed) {}

  // The next 64-bit draw.
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace internal
}  // namespace asc
