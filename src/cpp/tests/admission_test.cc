// Feature admission and eviction: KeyAdmission alone, then through Table in
// HBM and DDR mode (admission filter in FindOrInsert / PlanLookup, EvictStale
// across tiers).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "asc/admission.h"
#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::Locate;
using testing_util::MakeTable;
using testing_util::Plan;
using testing_util::TieredOptions;

AdmissionOptions Thresholds(int64_t access, int64_t eviction) {
  AdmissionOptions o;
  o.access_threshold = access;
  o.eviction_threshold = eviction;
  return o;
}

bool AdmittedOne(const KeyAdmission& a, int64_t key) {
  bool admitted = false;
  a.Admitted(1, &key, &admitted);
  return admitted;
}

TEST(KeyAdmissionTest, AdmitsAtExactlyTheThresholdOfWeightedCounts) {
  KeyAdmission a(Thresholds(5, 0));
  const int64_t key = -42;
  const int64_t weight = 2;
  a.Record(1, &key, &weight, 1);
  a.Record(1, &key, &weight, 2);
  EXPECT_FALSE(AdmittedOne(a, key));  // 4 < 5
  const int64_t one = 1;
  a.Record(1, &key, &one, 3);
  EXPECT_TRUE(AdmittedOne(a, key));  // 5 >= 5
  EXPECT_FALSE(AdmittedOne(a, 7));   // never seen
  EXPECT_EQ(a.clock(), 3);
}

TEST(KeyAdmissionTest, CountsSaturateAndTimeNeverGoesBack) {
  KeyAdmission a(Thresholds(1, 10));
  const int64_t key = 1;
  const int64_t big = std::numeric_limits<int64_t>::max() - 1;
  a.Record(1, &key, &big, 50);
  a.Record(1, &key, &big, 20);  // older batch: last_seen stays 50
  std::vector<int64_t> keys, counts, seen;
  a.Export(&keys, &counts, &seen);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(counts[0], std::numeric_limits<int64_t>::max());
  EXPECT_EQ(seen[0], 50);
  EXPECT_EQ(a.clock(), 50);
}

TEST(KeyAdmissionTest, TakeStaleRemovesOnlyRecordsOlderThanTheThreshold) {
  KeyAdmission a(Thresholds(1, 10));
  const std::vector<int64_t> keys = {1, 2, 3};
  const std::vector<int64_t> w = {1, 1, 1};
  a.Record(1, &keys[0], &w[0], 0);
  a.Record(1, &keys[1], &w[1], 10);
  a.Record(1, &keys[2], &w[2], 20);
  std::vector<int64_t> stale;
  a.TakeStale(&stale);
  EXPECT_EQ(stale, std::vector<int64_t>{1});  // 20 - 0 > 10; 20 - 10 is not
  EXPECT_EQ(a.size(), 2);
  EXPECT_FALSE(AdmittedOne(a, 1));  // forgotten: starts over
  a.TakeStale(&stale);
  EXPECT_TRUE(stale.empty());
}

TEST(KeyAdmissionTest, ImportReplacesRecordsAndRejectsDuplicates) {
  KeyAdmission a(Thresholds(3, 0));
  const int64_t k = 9, w = 5;
  a.Record(1, &k, &w, 1);
  const std::vector<int64_t> keys = {1, 2}, counts = {3, 1}, seen = {7, 8};
  ASSERT_TRUE(a.Import(2, keys.data(), counts.data(), seen.data()).ok());
  EXPECT_FALSE(AdmittedOne(a, 9));
  EXPECT_TRUE(AdmittedOne(a, 1));
  EXPECT_FALSE(AdmittedOne(a, 2));
  EXPECT_EQ(a.clock(), 8);
  const std::vector<int64_t> dup = {4, 4};
  const Status s = a.Import(2, dup.data(), counts.data(), seen.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(AdmittedOne(a, 1));  // unchanged
}

TEST(AdmissionOptionsTest, ValidateNamesTheField) {
  EXPECT_NE(Thresholds(0, 0).Validate().message().find("access_threshold"), std::string::npos);
  EXPECT_NE(Thresholds(1, -1).Validate().message().find("eviction_threshold"), std::string::npos);
  EXPECT_TRUE(Thresholds(1, 0).Validate().ok());
}

class HbmAdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = MakeTable(TieredOptions(8, 0, 4, 4));
    ASSERT_TRUE(table_->ConfigureAdmission(Thresholds(2, 5)).ok());
  }
  // RecordAccess then FindOrInsert, as the graph runs them.
  void Step(const std::vector<int64_t>& keys, const std::vector<int32_t>& counts, int64_t time,
            std::vector<int64_t>* slots, std::vector<bool>* is_new) {
    const int64_t n = static_cast<int64_t>(keys.size());
    ASSERT_TRUE(table_->RecordAccess<int64_t>(n, keys.data(), counts.data(), 1, time, true).ok());
    slots->assign(keys.size(), -7);
    std::unique_ptr<bool[]> fresh(new bool[keys.size() + 1]());
    int64_t capacity = 0;
    ASSERT_TRUE(table_->FindOrInsert<int64_t>(n, keys.data(), slots->data(), fresh.get(),
                                              &capacity).ok());
    is_new->assign(fresh.get(), fresh.get() + n);
  }
  std::unique_ptr<Table> table_;
};

TEST_F(HbmAdmissionTest, UnadmittedKeysGetNoSlotAndNoRow) {
  std::vector<int64_t> slots;
  std::vector<bool> is_new;
  Step({10, 11}, {2, 1}, 1, &slots, &is_new);
  EXPECT_GE(slots[0], 0);
  EXPECT_TRUE(is_new[0]);
  EXPECT_EQ(slots[1], -1);
  EXPECT_FALSE(is_new[1]);
  EXPECT_EQ(table_->size(), 1);
  Step({11}, {1}, 2, &slots, &is_new);  // second occurrence: admitted
  EXPECT_GE(slots[0], 0);
  EXPECT_TRUE(is_new[0]);
  const TableStats s = table_->stats();
  EXPECT_EQ(s.rejected, 1);
  EXPECT_EQ(s.new_keys, 2);
  EXPECT_EQ(s.admission_keys, 2);
}

TEST_F(HbmAdmissionTest, EvictStaleFreesSlotsForReuse) {
  std::vector<int64_t> slots;
  std::vector<bool> is_new;
  Step({1, 2}, {2, 2}, 1, &slots, &is_new);
  const int64_t slot_of_1 = slots[0];
  Step({2}, {1}, 7, &slots, &is_new);  // clock 7: key 1 is 6 > 5 old
  std::vector<int64_t> freed;
  int64_t evicted = 0;
  ASSERT_TRUE(table_->EvictStale(&freed, &evicted).ok());
  EXPECT_EQ(evicted, 1);
  EXPECT_EQ(freed, std::vector<int64_t>{slot_of_1});
  EXPECT_EQ(table_->size(), 1);
  EXPECT_EQ(table_->stats().stale_evicted, 1);
  Step({3}, {2}, 8, &slots, &is_new);
  EXPECT_EQ(slots[0], slot_of_1);  // the freed slot is reused
}

TEST_F(HbmAdmissionTest, ReconfiguringWithOtherThresholdsFails) {
  EXPECT_TRUE(table_->ConfigureAdmission(Thresholds(2, 5)).ok());
  const Status s = table_->ConfigureAdmission(Thresholds(3, 5));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("access_threshold=2"), std::string::npos);
}

TEST(TableAdmissionTest, RecordAccessWithoutTimeCountsTrainingSteps) {
  auto table = MakeTable(TieredOptions(8, 0, 4, 4));
  ASSERT_TRUE(table->ConfigureAdmission(Thresholds(1, 1)).ok());
  const int64_t a = 1, b = 2;
  const int32_t one = 1;
  ASSERT_TRUE(table->RecordAccess<int64_t>(1, &a, &one, 1, -1, true).ok());   // step 1
  ASSERT_TRUE(table->RecordAccess<int64_t>(1, &b, &one, 1, -1, false).ok());  // same step
  ASSERT_TRUE(table->RecordAccess<int64_t>(1, &b, &one, 1, -1, true).ok());   // step 2
  ASSERT_TRUE(table->RecordAccess<int64_t>(1, &b, &one, 1, -1, true).ok());   // step 3
  std::vector<int64_t> keys, counts, seen;
  ASSERT_TRUE(table->ExportAdmission(&keys, &counts, &seen).ok());
  std::vector<int64_t> expect_seen = {1, 3};
  if (keys[0] != 1) std::swap(seen[0], seen[1]);
  EXPECT_EQ(seen, expect_seen);
  std::vector<int64_t> freed;
  int64_t evicted = 0;
  ASSERT_TRUE(table->EvictStale(&freed, &evicted).ok());  // key 1 is 2 > 1 steps old
  ASSERT_TRUE(table->ExportAdmission(&keys, &counts, &seen).ok());
  EXPECT_EQ(keys, std::vector<int64_t>{2});
}

TEST(TableAdmissionTest, BadCallsAreErrorsNotCrashes) {
  auto table = MakeTable(TieredOptions(8, 0, 4, 4));
  const int64_t k = 1;
  const int32_t c = 1;
  EXPECT_EQ(table->RecordAccess<int64_t>(1, &k, &c, 1, 0, true).code(),
            StatusCode::kFailedPrecondition);
  std::vector<int64_t> freed;
  int64_t evicted = 0;
  EXPECT_EQ(table->EvictStale(&freed, &evicted).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(table->ConfigureAdmission(Thresholds(1, 0)).ok());
  EXPECT_EQ(table->EvictStale(&freed, &evicted).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(table->RecordAccess<int64_t>(1, &k, &c, 0, 0, true).code(),
            StatusCode::kInvalidArgument);
  const int32_t negative = -1;
  EXPECT_EQ(table->RecordAccess<int64_t>(1, &k, &negative, 1, 0, true).code(),
            StatusCode::kInvalidArgument);
}

TEST(TableAdmissionTest, DdrModeRejectsUnadmittedAndEvictsFromEveryTier) {
  auto table = MakeTable(TieredOptions(2, 10, 2, 2));
  ASSERT_TRUE(table->ConfigureAdmission(Thresholds(1, 3)).ok());
  auto step = [&](const std::vector<int64_t>& keys, const std::vector<int32_t>& counts,
                  int64_t time) {
    EXPECT_TRUE(table->RecordAccess<int64_t>(static_cast<int64_t>(keys.size()), keys.data(),
                                             counts.data(), 1, time, true).ok());
    auto r = Plan<int64_t>(table.get(), keys, true);
    EXPECT_TRUE(r.status.ok()) << r.status.message();
    std::vector<float> rows(r.plan.evict_slots.size() * 2, 0.5f);
    EXPECT_TRUE(table->CommitEvicted(static_cast<int64_t>(r.plan.evict_slots.size()),
                                     rows.data()).ok());
    return r;
  };
  step({1, 2}, {1, 1}, 0);
  auto r = step({3, 4, 5}, {1, 1, 0}, 1);  // key 5: count 0, not admitted
  EXPECT_EQ(r.slots[2], -1);
  EXPECT_FALSE(r.is_new[2]);
  EXPECT_EQ(Locate(*table, {1, 2, 3, 4, 5}),
            (std::vector<int8_t>{kTierHost, kTierHost, kTierDevice, kTierDevice, kTierAbsent}));
  step({3}, {1}, 4);  // clock 4: keys 1, 2 (seen at 0) are stale; 4, 5 (seen at 1) are not
  std::vector<int64_t> freed;
  int64_t evicted = 0;
  ASSERT_TRUE(table->EvictStale(&freed, &evicted).ok());
  EXPECT_EQ(evicted, 2);
  EXPECT_TRUE(freed.empty());  // both were on the host tier
  EXPECT_EQ(Locate(*table, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierAbsent, kTierAbsent, kTierDevice, kTierDevice}));
  EXPECT_EQ(table->stats().host_keys, 0);
}

}  // namespace
}  // namespace asc
