// Private to libasc: what the value a Table keeps per key in its KeySlotMap
// means (the key's "location").
//
// HBM mode stores device slots only. DDR mode: device slots are
// [0, kHostBase), host row h is stored as kHostBase + h. Both ranges stay
// below TableOptions::kMaxCapacity = 2^40 entries, so 2^62 separates them with
// room to spare and keeps every value non-negative (KeySlotMap::kNoSlot stays
// the only negative stored value). A key on the SSD tier is stored as the
// single value kOnSsd (SsdTier is keyed by key, so no row index is needed),
// just below kHostBase.
//
// The encoding never leaves libasc: Table's API reports slots and tiers.
// Constants and pure functions only; no state.
#pragma once

#include <cstdint>

namespace asc {
namespace internal {

constexpr int64_t kHostBase = int64_t{1} << 62;
constexpr int64_t kOnSsd = kHostBase - 1;
// Within one lookup only (never stored): an absent key that admission turned
// away. It leaves the call as slot -1 (KeySlotMap::kNoSlot).
constexpr int64_t kRejected = -2;

// A host row's location, and back. Precondition: row >= 0 / IsHostRow.
constexpr int64_t EncodeHostRow(int64_t row) { return kHostBase + row; }
constexpr int64_t HostRowOf(int64_t location) { return location - kHostBase; }

constexpr bool IsHostRow(int64_t location) { return location >= kHostBase; }
constexpr bool IsOnSsd(int64_t location) { return location == kOnSsd; }
constexpr bool IsDeviceSlot(int64_t location) { return location >= 0 && location < kOnSsd; }
// Off the device but held: its row lives in libasc (host or SSD).
constexpr bool IsOffDevice(int64_t location) { return location >= kOnSsd; }

}  // namespace internal
}  // namespace asc
