// TierSwap: the plan of a DDR lookup (victims, demotions, the errors when
// the tiers are full), SSD staging (reads, demotion victims, one exchange,
// nothing staged on failure) and the row transfer (evicted rows leave before
// loaded rows arrive). Lookups through a Table: table_tiering_test.cc and
// table_ssd_test.cc.
#include "../core/tier_swap.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../core/host_store.h"
#include "../core/location.h"
#include "../core/sample_rng.h"
#include "asc/key_map.h"
#include "tiering_test_util.h"

namespace asc {
namespace internal {
namespace {

using Demand = TierSwap::Demand;
using Room = TierSwap::Room;

Demand Needs(int64_t moving, int64_t from_host, int64_t from_ssd) {
  Demand d;
  d.moving = moving;
  d.from_host = from_host;
  d.from_ssd = from_ssd;
  return d;
}

Room Tiers(int64_t device_capacity, int64_t device_used, int64_t pinned, int64_t host_size,
           int64_t host_capacity) {
  Room r;
  r.device_capacity = device_capacity;
  r.device_used = device_used;
  r.pinned = pinned;
  r.host_size = host_size;
  r.host_capacity = host_capacity;
  return r;
}

Room WithSsd(Room r, int64_t ssd_size, int64_t ssd_capacity) {
  r.has_ssd = true;
  r.ssd_size = ssd_size;
  r.ssd_capacity = ssd_capacity;
  return r;
}

// A plan refused for lack of room, with `message`.
void ExpectExhausted(const Status& s, const std::string& message) {
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), message);
}

TEST(TierSwapTest, PlanNeedsNoVictimsWhileSlotsAreFree) {
  TierSwap swap;
  ASSERT_TRUE(swap.Plan("emb", Needs(3, 1, 0), Tiers(8, 5, 5, 0, 0)).ok());
  EXPECT_EQ(swap.victims(), 0);
  EXPECT_EQ(swap.demotions(), 0);
}

TEST(TierSwapTest, PlanEvictsWhatTheFreeSlotsLack) {
  TierSwap swap;
  // 5 keys, 2 free slots: 3 victims; host 4 - 1 loaded + 3 = 6 <= 10.
  ASSERT_TRUE(swap.Plan("emb", Needs(5, 1, 0), Tiers(8, 6, 2, 4, 10)).ok());
  EXPECT_EQ(swap.victims(), 3);
  EXPECT_EQ(swap.demotions(), 0);
}

TEST(TierSwapTest, PlanFailsWhenPinnedSlotsLeaveTooFewVictims) {
  TierSwap swap;
  ExpectExhausted(swap.Plan("emb", Needs(5, 0, 0), Tiers(8, 8, 4, 0, 100)),
                  "table 'emb': the device tier (device_vocabulary_size=8) cannot hold the unique "
                  "keys of the steps running now: 4 rows are in use and this lookup needs 5 more; "
                  "enlarge device_vocabulary_size");
  EXPECT_EQ(swap.victims(), 0);
  ASSERT_TRUE(swap.Plan("emb", Needs(4, 0, 0), Tiers(8, 8, 4, 0, 100)).ok());
  EXPECT_EQ(swap.victims(), 4);
}

TEST(TierSwapTest, PlanFailsWhenTheHostTierCannotTakeTheVictims) {
  TierSwap swap;
  // 4 victims; host 9 - 2 + 4 = 11 > 10, and no SSD tier.
  ExpectExhausted(swap.Plan("emb", Needs(4, 2, 0), Tiers(4, 4, 0, 9, 10)),
                  "table 'emb': the host tier is full (host_vocabulary_size=10, 9 rows held); "
                  "this lookup evicts 4 rows and loads 2; enlarge host_vocabulary_size");
  ASSERT_TRUE(swap.Plan("emb", Needs(3, 2, 0), Tiers(4, 4, 0, 9, 10)).ok());
}

TEST(TierSwapTest, PlanDemotesTheHostExcessToSsd) {
  TierSwap swap;
  // 4 victims; host 9 - 2 + 4 = 11: one row more than the host tier holds.
  ASSERT_TRUE(swap.Plan("emb", Needs(4, 2, 1), WithSsd(Tiers(4, 4, 0, 9, 10), 5, 6)).ok());
  EXPECT_EQ(swap.victims(), 4);
  EXPECT_EQ(swap.demotions(), 1);
}

TEST(TierSwapTest, PlanFailsWhenEveryTierIsFull) {
  TierSwap swap;
  const std::string full =
      "table 'emb': every tier is full (device_vocabulary_size=4, host_vocabulary_size=10, "
      "ssd_vocabulary_size=6; 9 host rows and 6 SSD rows held); this lookup evicts 4 rows and "
      "loads 2 from host and 0 from SSD; enlarge ssd_vocabulary_size or host_vocabulary_size";
  // SSD 6 - 0 + 1 > 6.
  ExpectExhausted(swap.Plan("emb", Needs(4, 2, 0), WithSsd(Tiers(4, 4, 0, 9, 10), 6, 6)), full);
  EXPECT_EQ(swap.demotions(), 0);
  // Rows this lookup loads are no demotion candidates: 4 victims, 3 host
  // rows of which 2 load, so the 2 rows to demote are not there.
  EXPECT_EQ(swap.Plan("emb", Needs(4, 2, 0), WithSsd(Tiers(4, 4, 0, 3, 1), 0, 100)).code(),
            StatusCode::kResourceExhausted);
}

// A host tier of width kWidth and an SSD tier, in a scratch directory.
class TierSwapSsdTest : public ::testing::Test {
 protected:
  static constexpr int64_t kWidth = 2;
  void SetUp() override {
    ASSERT_TRUE(tmp_.Create("asc_tier_swap_"));
    SsdTierOptions o;
    o.paths = {tmp_.Dir("ssd")};
    o.name = "emb";
    o.row_width = kWidth;
    o.capacity = 10;
    o.min_free_bytes = 0;
    ASSERT_TRUE(SsdTier::Open(o, &ssd_).ok());
  }
  std::vector<float> SsdRow(int64_t key) {
    std::vector<float> row(kWidth);
    std::unique_ptr<bool[]> found(new bool[1]);
    EXPECT_TRUE(ssd_->Get(1, &key, row.data(), found.get()).ok());
    return found[0] ? row : std::vector<float>();
  }
  testing_util::TempDir tmp_;
  std::unique_ptr<SsdTier> ssd_;
  SampleRng rng_;
  HostStore host_{kWidth, 3, &rng_};
};

TEST_F(TierSwapSsdTest, StageWithNothingToMoveTouchesNoTier) {
  TierSwap swap;
  ASSERT_TRUE(swap.Plan("emb", Needs(1, 0, 0), Tiers(4, 2, 0, 0, 3)).ok());
  const int64_t key = 5;
  const int64_t location = KeySlotMap::kNoSlot;
  ASSERT_TRUE(swap.Stage("emb", 1, &key, &location, &host_, /*ssd=*/nullptr).ok());
  EXPECT_TRUE(swap.demoted_rows().empty());
}

TEST_F(TierSwapSsdTest, StageReadsSsdKeysAndDemotesUnloadedHostRows) {
  const std::vector<float> on_ssd = {50.0f, 51.0f, 60.0f, 61.0f};
  const std::vector<int64_t> ssd_keys = {500, 600};
  ASSERT_TRUE(ssd_->Put(2, ssd_keys.data(), on_ssd.data()).ok());
  // Host rows 0, 1, 2 hold keys 1, 2, 3; the lookup loads key 1.
  for (int64_t k = 1; k <= 3; ++k) {
    const int64_t row = host_.Allocate(k, static_cast<uint32_t>(k));
    host_.Row(row)[0] = static_cast<float>(k);
    host_.Row(row)[1] = static_cast<float>(-k);
  }
  const std::vector<int64_t> keys = {7, 500, 1};
  const std::vector<int64_t> locations = {KeySlotMap::kNoSlot, kOnSsd, EncodeHostRow(0)};
  TierSwap swap;
  // 3 keys, no free slot: 3 victims; host 3 - 1 + 3 = 5 > 3: demote 2.
  ASSERT_TRUE(swap.Plan("emb", Needs(3, 1, 1), WithSsd(Tiers(4, 4, 0, 3, 3), 2, 10)).ok());
  ASSERT_EQ(swap.demotions(), 2);
  ASSERT_TRUE(swap.Stage("emb", 3, keys.data(), locations.data(), &host_, ssd_.get()).ok());
  // Rows 1 and 2 (keys 2 and 3) went to SSD; row 0 loads, so it stayed.
  EXPECT_EQ(std::set<int64_t>(swap.demoted_rows().begin(), swap.demoted_rows().end()),
            (std::set<int64_t>{1, 2}));
  EXPECT_EQ(std::set<int64_t>(swap.demoted_keys().begin(), swap.demoted_keys().end()),
            (std::set<int64_t>{2, 3}));
  EXPECT_EQ(SsdRow(2), (std::vector<float>{2.0f, -2.0f}));
  EXPECT_EQ(SsdRow(3), (std::vector<float>{3.0f, -3.0f}));
  EXPECT_TRUE(SsdRow(500).empty());  // read and erased
  EXPECT_EQ(SsdRow(600), (std::vector<float>{60.0f, 61.0f}));
  EXPECT_EQ(host_.size(), 3);  // the owner frees the demoted rows
  swap.BeginMoves(kWidth);
  EXPECT_EQ(std::vector<float>(swap.ssd_row(0), swap.ssd_row(0) + kWidth),
            (std::vector<float>{50.0f, 51.0f}));
  swap.ClearDemoted();
  EXPECT_TRUE(swap.demoted_rows().empty());
}

TEST_F(TierSwapSsdTest, StageFailsWithoutStagingForAKeyTheSsdTierLacks) {
  host_.Allocate(1, 1);
  const int64_t key = 404;
  const int64_t location = kOnSsd;
  TierSwap swap;
  ASSERT_TRUE(swap.Plan("emb", Needs(1, 0, 1), WithSsd(Tiers(4, 3, 0, 1, 3), 1, 10)).ok());
  const Status s = swap.Stage("emb", 1, &key, &location, &host_, ssd_.get());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(),
            "table 'emb': key 404 is mapped to the SSD tier but the SSD tier does not hold it");
  EXPECT_TRUE(swap.demoted_rows().empty());
}

TEST(TierSwapTest, TransferGathersEvictionsBeforeScatteringLoads) {
  testing_util::FakeDevice dev(/*rows=*/4, /*dim=*/1, {0.5f});  // width 2
  const std::vector<int64_t> slots = {0, 1, 2, 3};
  const std::vector<float> start = {0, 0, 10, 11, 20, 21, 30, 31};
  ASSERT_TRUE(dev.Scatter(4, slots.data(), start.data()).ok());
  SampleRng rng;
  HostStore host(2, 4, &rng);
  const int64_t row = host.Allocate(/*key=*/9, 1);
  TierSwap swap;
  swap.BeginMoves(2);
  const float loaded[] = {70.0f, 71.0f};
  swap.AddLoadRow(loaded);
  swap.AddEviction(/*slot=*/1, row);
  swap.AddLoadSlot(1);  // the victim's slot receives the loaded row
  std::vector<float> scratch;
  ASSERT_TRUE(swap.Transfer(&dev, &host, &scratch).ok());
  EXPECT_EQ(host.Row(row)[0], 10.0f);
  EXPECT_EQ(host.Row(row)[1], 11.0f);
  EXPECT_EQ(dev.Row(1), (std::vector<float>{70.0f, 71.0f}));
  EXPECT_EQ(dev.Row(2), (std::vector<float>{20.0f, 21.0f}));
  EXPECT_GT(swap.memory_bytes(), 0);
  // A new lookup starts with no moves.
  swap.BeginMoves(2);
  dev.ClearLog();
  ASSERT_TRUE(swap.Transfer(&dev, &host, &scratch).ok());
  EXPECT_TRUE(dev.gathered().empty());
  EXPECT_TRUE(dev.scattered().empty());
}

}  // namespace
}  // namespace internal
}  // namespace asc
