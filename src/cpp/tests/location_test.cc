// location.h: the encoding of a Table's key map values (device slot, host
// row, on SSD) and the in-call rejection marker.
#include "../core/location.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "asc/key_map.h"
#include "asc/table_options.h"

namespace asc {
namespace internal {
namespace {

TEST(LocationTest, HostRowsRoundTripAboveEveryDeviceSlot) {
  for (int64_t row : {int64_t{0}, int64_t{1}, TableOptions::kMaxCapacity - 1}) {
    const int64_t location = EncodeHostRow(row);
    EXPECT_TRUE(IsHostRow(location)) << row;
    EXPECT_TRUE(IsOffDevice(location)) << row;
    EXPECT_FALSE(IsDeviceSlot(location)) << row;
    EXPECT_FALSE(IsOnSsd(location)) << row;
    EXPECT_EQ(HostRowOf(location), row);
  }
  static_assert(EncodeHostRow(0) == kHostBase, "row 0 sits at the base");
  static_assert(TableOptions::kMaxCapacity < kOnSsd, "device slots stay below the SSD marker");
}

TEST(LocationTest, DeviceSlotsAreTheirOwnValue) {
  for (int64_t slot : {int64_t{0}, int64_t{7}, TableOptions::kMaxCapacity - 1}) {
    EXPECT_TRUE(IsDeviceSlot(slot)) << slot;
    EXPECT_FALSE(IsOffDevice(slot)) << slot;
    EXPECT_FALSE(IsHostRow(slot)) << slot;
    EXPECT_FALSE(IsOnSsd(slot)) << slot;
  }
}

TEST(LocationTest, OnSsdIsOneValueJustBelowTheHostRows) {
  EXPECT_TRUE(IsOnSsd(kOnSsd));
  EXPECT_TRUE(IsOffDevice(kOnSsd));
  EXPECT_FALSE(IsHostRow(kOnSsd));
  EXPECT_FALSE(IsDeviceSlot(kOnSsd));
  EXPECT_FALSE(IsOnSsd(kOnSsd - 1));
  EXPECT_TRUE(IsDeviceSlot(kOnSsd - 1));  // the encoding's own bound, never issued
}

TEST(LocationTest, AbsentAndRejectedAreNoTier) {
  for (int64_t location : {KeySlotMap::kNoSlot, kRejected}) {
    EXPECT_FALSE(IsDeviceSlot(location)) << location;
    EXPECT_FALSE(IsHostRow(location)) << location;
    EXPECT_FALSE(IsOnSsd(location)) << location;
    EXPECT_FALSE(IsOffDevice(location)) << location;
  }
  EXPECT_NE(kRejected, KeySlotMap::kNoSlot);
}

}  // namespace
}  // namespace internal
}  // namespace asc
