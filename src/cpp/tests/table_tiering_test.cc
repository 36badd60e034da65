// DDR mode of Table: PlanLookup / CommitEvicted / FindRows, driven like the
// graph will drive them, against a fake device matrix and a reference map.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::FakeDevice;
using testing_util::InitialRow;
using testing_util::Locate;
using testing_util::Lookup;
using testing_util::MakeTable;
using testing_util::Plan;
using testing_util::SameStats;
using testing_util::SkewedKeys;

// DDR mode (HBM mode when host = 0); row r of a fake device is [r*w, (r+1)*w).
TableOptions DdrOptions(int64_t device, int64_t host, int64_t dim = 2, int64_t row_width = 5) {
  return testing_util::TieredOptions(device, host, dim, row_width);
}

TEST(TableTieringTest, ModesRejectTheOtherModesLookup) {
  TableOptions hbm = DdrOptions(4, 0);
  auto t = MakeTable(hbm);
  Lookup r = Plan<int64_t>(t.get(), {1}, true);
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status.message().find("'emb'"), std::string::npos) << r.status.message();

  auto d = MakeTable(DdrOptions(4, 8));
  int64_t slot = 0, capacity = 0;
  bool is_new = false;
  const int64_t key = 1;
  const Status s = d->FindOrInsert<int64_t>(1, &key, &slot, &is_new, &capacity);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("PlanLookup"), std::string::npos) << s.message();
}

TEST(TableTieringTest, EvictsLeastRecentlyUsedAndLoadsItBack) {
  auto t = MakeTable(DdrOptions(2, 10));
  const int64_t w = t->row_width();
  ASSERT_EQ(w, 5);
  Lookup a = Plan<int64_t>(t.get(), {1, 2}, true);
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  EXPECT_EQ(a.is_new, (std::vector<bool>{true, true}));
  EXPECT_TRUE(a.plan.evict_slots.empty());
  EXPECT_TRUE(t->CommitEvicted(0, nullptr).ok());

  Lookup b = Plan<int64_t>(t.get(), {3}, true);  // key 1 is least recently used
  ASSERT_TRUE(b.status.ok()) << b.status.message();
  EXPECT_EQ(b.plan.evict_slots, std::vector<int64_t>{a.slots[0]});
  EXPECT_EQ(b.slots[0], a.slots[0]);
  EXPECT_TRUE(b.is_new[0]);
  const std::vector<float> row1 = InitialRow(1, w);
  ASSERT_TRUE(t->CommitEvicted(1, row1.data()).ok());
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), (std::vector<int8_t>{kTierHost, kTierDevice, kTierDevice, kTierAbsent}));

  Lookup c = Plan<int64_t>(t.get(), {1}, true);  // evicts 2, brings 1 back
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_FALSE(c.is_new[0]);
  EXPECT_EQ(c.plan.evict_slots, std::vector<int64_t>{a.slots[1]});
  EXPECT_EQ(c.plan.load_slots, std::vector<int64_t>{a.slots[1]});
  EXPECT_EQ(c.plan.load_rows, row1);
  EXPECT_EQ(c.slots[0], a.slots[1]);
  const std::vector<float> row2 = InitialRow(2, w);
  ASSERT_TRUE(t->CommitEvicted(1, row2.data()).ok());

  const TableStats s = t->stats();
  EXPECT_EQ(s.device_keys, 2);
  EXPECT_EQ(s.host_keys, 1);
  EXPECT_EQ(s.new_keys, 3);
  EXPECT_EQ(s.loads, 1);
  EXPECT_EQ(s.evictions, 2);
  EXPECT_EQ(s.hits, 0);
  EXPECT_EQ(s.misses, 4);
  EXPECT_EQ(t->size(), 3);
}

TEST(TableTieringTest, SlotsUsedEarlierInTheStepAreNeverEvicted) {
  auto t = MakeTable(DdrOptions(3, 10));
  ASSERT_TRUE(Plan<int64_t>(t.get(), {1, 2}, true).status.ok());
  ASSERT_TRUE(Plan<int64_t>(t.get(), {3}, false).status.ok());  // last free slot
  const TableStats before = t->stats();
  const std::vector<int8_t> where = Locate(*t, {1, 2, 3, 4});
  Lookup r = Plan<int64_t>(t.get(), {4, 1}, false);  // would need to evict 2 or 3
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status.message(),
            "table 'emb': the device tier (device_vocabulary_size=3) is smaller than the unique "
            "keys of one step (4 so far); enlarge device_vocabulary_size");
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), where);
  // The failed call did not pin or advance anything: the next step may evict.
  Lookup next = Plan<int64_t>(t.get(), {4, 1}, true);
  ASSERT_TRUE(next.status.ok()) << next.status.message();
  EXPECT_EQ(next.plan.evict_slots.size(), 1u);
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), (std::vector<int8_t>{kTierDevice, kTierHost, kTierDevice, kTierDevice}));
}

TEST(TableTieringTest, FullHostTierChangesNothing) {
  auto t = MakeTable(DdrOptions(1, 1));
  const std::vector<float> row(5, 1.5f);
  ASSERT_TRUE(Plan<int64_t>(t.get(), {1}, true).status.ok());
  ASSERT_TRUE(Plan<int64_t>(t.get(), {2}, true).status.ok());
  ASSERT_TRUE(t->CommitEvicted(1, row.data()).ok());  // 1 -> host, host full
  const TableStats before = t->stats();
  Lookup r = Plan<int64_t>(t.get(), {3}, true);
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status.message().find("table 'emb'"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("host_vocabulary_size=1"), std::string::npos) << r.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierHost, kTierDevice, kTierAbsent}));
  // Swapping 1 and 2 fits: 1's host row is freed before 2 needs one.
  Lookup swap = Plan<int64_t>(t.get(), {1}, true);
  ASSERT_TRUE(swap.status.ok()) << swap.status.message();
  EXPECT_EQ(swap.plan.load_rows, row);
  ASSERT_TRUE(t->CommitEvicted(1, row.data()).ok());
  EXPECT_EQ(Locate(*t, {1, 2}), (std::vector<int8_t>{kTierDevice, kTierHost}));
}

TEST(TableTieringTest, OutstandingPlanMustBeCommittedWithTheRightCount) {
  auto t = MakeTable(DdrOptions(1, 4));
  const std::vector<float> rows(10, 2.0f);
  EXPECT_TRUE(t->CommitEvicted(0, nullptr).ok());  // nothing outstanding
  EXPECT_EQ(t->CommitEvicted(1, rows.data()).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(Plan<int64_t>(t.get(), {1}, true).status.ok());
  ASSERT_TRUE(Plan<int64_t>(t.get(), {2}, true).status.ok());  // evicts 1
  Lookup again = Plan<int64_t>(t.get(), {3}, true);
  EXPECT_EQ(again.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status.message().find("CommitEvicted"), std::string::npos);
  int64_t slot = 0;
  bool found = false;
  const int64_t key = 1;
  std::vector<float> host_row(5);
  EXPECT_EQ(t->FindRows<int64_t>(1, &key, &slot, host_row.data(), &found).code(),
            StatusCode::kFailedPrecondition);
  const Status wrong = t->CommitEvicted(2, rows.data());
  EXPECT_EQ(wrong.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wrong.message(), "CommitEvicted on table 'emb': got 2 rows, the outstanding plan evicted 1");
  ASSERT_TRUE(t->CommitEvicted(1, rows.data()).ok());  // still outstanding after the mismatch
  EXPECT_TRUE(Plan<int64_t>(t.get(), {3}, true).status.ok());
}

TEST(TableTieringTest, FindRowsReadsBothTiersAndChangesNothing) {
  auto t = MakeTable(DdrOptions(2, 4));
  Lookup a = Plan<int64_t>(t.get(), {1, 2}, true);
  ASSERT_TRUE(a.status.ok());
  ASSERT_TRUE(Plan<int64_t>(t.get(), {3}, true).status.ok());  // 1 -> host
  const std::vector<float> row1 = {9, 8, 7, 6, 5};
  ASSERT_TRUE(t->CommitEvicted(1, row1.data()).ok());
  const TableStats before = t->stats();

  // Read 3 then 2: a read that updated LRU order would make 3 the victim.
  const std::vector<int64_t> keys = {3, 2, 1, 99};
  std::vector<int64_t> slots(4, -7);
  std::vector<float> host_rows(4 * 5, -1.0f);
  std::unique_ptr<bool[]> found(new bool[4]);
  ASSERT_TRUE(t->FindRows<int64_t>(4, keys.data(), slots.data(), host_rows.data(), found.get()).ok());
  EXPECT_EQ(slots[1], a.slots[1]);
  EXPECT_GE(slots[0], 0);
  EXPECT_EQ(slots[2], -1);
  EXPECT_EQ(slots[3], -1);
  EXPECT_TRUE(found[0] && found[1] && found[2]);
  EXPECT_FALSE(found[3]);
  EXPECT_EQ(std::vector<float>(host_rows.begin() + 10, host_rows.begin() + 15), row1);
  EXPECT_EQ(host_rows[0], -1.0f);  // device keys' rows are left alone
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, keys), (std::vector<int8_t>{kTierDevice, kTierDevice, kTierHost, kTierAbsent}));

  // Find and Snapshot never expose a host key's location.
  std::vector<int64_t> found_slots(4);
  t->Find<int64_t>(4, keys.data(), found_slots.data());
  EXPECT_EQ(found_slots[2], KeySlotMap::kNoSlot);
  std::vector<int64_t> snap_keys, snap_slots;
  t->Snapshot(&snap_keys, &snap_slots);
  for (size_t i = 0; i < snap_keys.size(); ++i) {
    EXPECT_EQ(snap_slots[i] == -1, snap_keys[i] == 1) << snap_keys[i];
    EXPECT_LT(snap_slots[i], 2);
  }

  Lookup next = Plan<int64_t>(t.get(), {4}, true);
  ASSERT_TRUE(next.status.ok());
  EXPECT_EQ(next.plan.evict_slots, std::vector<int64_t>{a.slots[1]});  // key 2, not 3
}

TEST(TableTieringTest, EraseWorksInBothTiers) {
  auto t = MakeTable(DdrOptions(2, 4));
  Lookup a = Plan<int64_t>(t.get(), {1, 2}, true);
  ASSERT_TRUE(Plan<int64_t>(t.get(), {3}, true).status.ok());  // 1 -> host
  const std::vector<float> row(5, 0.5f);
  ASSERT_TRUE(t->CommitEvicted(1, row.data()).ok());
  const std::vector<int64_t> gone = {1, 2, 42};
  EXPECT_EQ(t->Erase<int64_t>(3, gone.data()), 2);
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierAbsent, kTierAbsent, kTierDevice}));
  TableStats s = t->stats();
  EXPECT_EQ(s.device_keys, 1);
  EXPECT_EQ(s.host_keys, 0);
  EXPECT_EQ(t->size(), 1);
  // 2's slot is free again: a new key takes it without evicting anything.
  Lookup b = Plan<int64_t>(t.get(), {5}, true);
  ASSERT_TRUE(b.status.ok());
  EXPECT_TRUE(b.plan.evict_slots.empty());
  EXPECT_EQ(b.slots[0], a.slots[1]);
  EXPECT_TRUE(b.is_new[0]);
}

TEST(TableTieringTest, RepeatedKeysAreRejected) {
  auto t = MakeTable(DdrOptions(4, 4));
  Lookup r = Plan<int64_t>(t.get(), {7, 8, 7}, true);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t->size(), 0);
}

TEST(TableTieringTest, Int32Keys) {
  TableOptions o = DdrOptions(1, 4);
  o.key_type = KeyType::kInt32;
  auto t = MakeTable(o);
  ASSERT_TRUE(Plan<int32_t>(t.get(), {-5}, true).status.ok());
  Lookup b = Plan<int32_t>(t.get(), {6}, true);
  ASSERT_TRUE(b.status.ok());
  const std::vector<float> row = {1, 2, 3, 4, 5};
  ASSERT_TRUE(t->CommitEvicted(1, row.data()).ok());
  const int32_t key = -5;
  int64_t slot = 0;
  bool found = false;
  std::vector<float> host_row(5);
  ASSERT_TRUE(t->FindRows<int32_t>(1, &key, &slot, host_row.data(), &found).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(slot, -1);
  EXPECT_EQ(host_row, row);
  EXPECT_EQ(Plan<int64_t>(t.get(), {int64_t{1} << 40}, true).status.code(),
            StatusCode::kInvalidArgument);
}

TEST(TableTieringTest, ValidateNamesTheFields) {
  TableOptions o = DdrOptions(4, -1);
  EXPECT_EQ(o.Validate().message(),
            "host_capacity (host_vocabulary_size) must be in [0, 1099511627776], got -1 (table 'emb')");
  o = DdrOptions(4, 8);
  o.dynamic_expansion = true;
  EXPECT_EQ(o.Validate().message(),
            "dynamic_expansion must be false when host_capacity (host_vocabulary_size) > 0: with a "
            "host tier the device tier is a fixed-size cache (table 'emb')");
  o.host_capacity = 0;
  EXPECT_TRUE(o.Validate().ok());  // expansion stays fine in HBM mode
  o = DdrOptions(4, 8, /*dim=*/4, /*row_width=*/3);
  EXPECT_EQ(o.Validate().message(),
            "row_width must be 0 (meaning dim) or in [dim=4, 131072], got 3 (table 'emb')");
  o.row_width = TableOptions::kMaxRowWidth + 1;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  for (int64_t ok : {int64_t{0}, int64_t{4}, TableOptions::kMaxRowWidth}) {
    o.row_width = ok;
    EXPECT_TRUE(o.Validate().ok()) << ok;
  }
  o.row_width = 0;
  EXPECT_EQ(MakeTable(o)->row_width(), 4);
}

// The graph's protocol against a fake device and a reference: every row read
// by slot must equal the reference, across many steps of skewed keys with
// several lookups per step, evictions and loads.
// Run once per device victim policy, without and with hot embedding (40 of
// the 64 slots may be hot, re-chosen every 20 steps, so steps of up to 90
// keys regularly take slots back from the hot set).
struct SimulationParam {
  DevicePolicy policy;
  int64_t hot_capacity;
};
class TableTieringSimulationTest : public ::testing::TestWithParam<SimulationParam> {};

TEST_P(TableTieringSimulationTest, RandomizedSimulationMatchesReference) {
  constexpr int64_t kDevice = 64;
  constexpr int64_t kHost = 3000;
  constexpr int64_t kUniverse = 2000;
  TableOptions options = DdrOptions(kDevice, kHost, /*dim=*/4, /*row_width=*/12);
  options.device_policy = GetParam().policy;
  options.hot_capacity = GetParam().hot_capacity;
  options.hot_refresh_steps = 20;
  auto t = MakeTable(options);
  const int64_t w = t->row_width();
  FakeDevice device(kDevice, w, /*fill=*/-1000.0f);
  const FakeDevice::Reference& reference = device.reference();
  SkewedKeys draw(/*seed=*/2024, kUniverse);
  int64_t exhausted = 0;
  int64_t hot_shrank = 0;  // steps after which the hot set was smaller

  for (int step = 0; step < 1500; ++step) {
    const int64_t hot_before = t->stats().hot_keys;
    ASSERT_NO_FATAL_FAILURE(
        testing_util::SimulateStep(t.get(), &device, &draw, kDevice, step, &exhausted));
    const TableStats now = t->stats();
    ASSERT_LE(now.hot_keys, options.hot_capacity);
    hot_shrank += now.hot_keys < hot_before;

    if (step % 100 == 99) {  // eval reads everything, erasing a few keys
      ASSERT_NO_FATAL_FAILURE(device.CheckAllRows(*t, "eval", step));
      ASSERT_NO_FATAL_FAILURE(device.EraseSome(t.get(), 10));
    }
  }
  const int64_t evicted = device.evicted(), loaded = device.loaded();

  // The run exercised every path.
  EXPECT_GT(evicted, 1000);
  EXPECT_GT(loaded, 1000);
  EXPECT_GT(exhausted, 0);

  // Every key in exactly one tier; counts add up; no slot shared.
  const std::vector<int64_t> keys = draw.All();
  const std::vector<int8_t> tier = Locate(*t, keys);
  int64_t on_device = 0, on_host = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(tier[i] != kTierAbsent, reference.count(keys[i]) == 1) << keys[i];
    on_device += tier[i] == kTierDevice;
    on_host += tier[i] == kTierHost;
  }
  const TableStats s = t->stats();
  EXPECT_EQ(s.device_keys, on_device);
  EXPECT_EQ(s.host_keys, on_host);
  EXPECT_EQ(on_device + on_host, t->size());
  EXPECT_EQ(t->size(), static_cast<int64_t>(reference.size()));
  EXPECT_LE(on_device, kDevice);
  EXPECT_EQ(s.evictions, evicted);
  EXPECT_EQ(s.loads, loaded);
  EXPECT_EQ(s.misses, s.loads + s.new_keys);
  if (options.hot_mode()) {  // the hot set filled, served hits and gave way
    EXPECT_GT(s.hot_hits, s.hits / 10);
    EXPECT_LT(s.hot_hits, s.hits);
    EXPECT_GT(hot_shrank, 20);
  } else {
    EXPECT_EQ(s.hot_hits, 0);
    EXPECT_EQ(s.hot_keys, 0);
  }
  std::vector<int64_t> snap_keys, snap_slots;
  t->Snapshot(&snap_keys, &snap_slots);
  std::set<int64_t> device_slots;
  for (int64_t slot : snap_slots) {
    if (slot >= 0) {
      ASSERT_TRUE(device_slots.insert(slot).second) << "slot " << slot << " shared";
    }
  }
  EXPECT_EQ(static_cast<int64_t>(device_slots.size()), on_device);
}

INSTANTIATE_TEST_SUITE_P(Policies, TableTieringSimulationTest,
                         ::testing::Values(SimulationParam{DevicePolicy::kLru, 0},
                                           SimulationParam{DevicePolicy::kLfu, 0},
                                           SimulationParam{DevicePolicy::kLru, 40},
                                           SimulationParam{DevicePolicy::kLfu, 40}),
                         [](const ::testing::TestParamInfo<SimulationParam>& info) {
                           return std::string(DevicePolicyName(info.param.policy)) +
                                  (info.param.hot_capacity > 0 ? "_hot" : "");
                         });

}  // namespace
}  // namespace asc
