// Feature admission and eviction: KeyAdmission alone (Record, Undo, ...),
// then through Table in HBM and DDR mode (admission recorded and applied by
// Lookup, EvictStale across tiers). Rollback of a step's admission records
// through Table is in table_steps_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <ostream>
#include <memory>
#include <vector>

#include "asc/admission.h"
#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::FakeDevice;
using testing_util::Locate;
using testing_util::LookupResult;
using testing_util::MakeTable;
using testing_util::RunStep;
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

struct Record {
  int64_t count;
  int64_t last_seen;
  bool operator==(const Record& o) const { return count == o.count && last_seen == o.last_seen; }
};
std::ostream& operator<<(std::ostream& os, const Record& r) {
  return os << "{count " << r.count << ", last_seen " << r.last_seen << "}";
}

std::map<int64_t, Record> Records(const KeyAdmission& a) {
  std::vector<int64_t> keys, counts, seen;
  a.Export(&keys, &counts, &seen);
  std::map<int64_t, Record> out;
  for (size_t i = 0; i < keys.size(); ++i) out[keys[i]] = Record{counts[i], seen[i]};
  return out;
}

TEST(KeyAdmissionTest, UndoTakesBackExactlyOneRecordCall) {
  KeyAdmission a(Thresholds(3, 0));
  const std::vector<int64_t> keys = {1, 2};
  const std::vector<int64_t> w = {2, 1};
  a.Record(2, keys.data(), w.data(), 5);
  const auto before = Records(a);
  const int64_t clock_before = a.clock();
  // Key 1 reaches the threshold, key 3 is new.
  const std::vector<int64_t> more = {1, 3};
  const std::vector<int64_t> mw = {1, 4};
  AdmissionUndo undo;
  a.Record(2, more.data(), mw.data(), 9, &undo);
  EXPECT_TRUE(AdmittedOne(a, 1));
  EXPECT_TRUE(AdmittedOne(a, 3));
  EXPECT_EQ(a.clock(), 9);
  EXPECT_EQ(undo.keys, more);
  EXPECT_EQ(undo.added, mw);
  EXPECT_EQ(undo.last_seen[0], 5);  // [1]: whatever a new record starts with
  EXPECT_EQ(undo.created, (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(undo.time, 9);
  EXPECT_EQ(undo.clock, 5);
  a.Undo(undo);
  EXPECT_EQ(Records(a), before);  // 3 forgotten, 1 back to count 2 seen at 5
  EXPECT_EQ(a.clock(), clock_before);
  EXPECT_FALSE(AdmittedOne(a, 1));
  EXPECT_FALSE(AdmittedOne(a, 3));
  EXPECT_EQ(a.size(), 2);
}

TEST(KeyAdmissionTest, UndoTakesBackOnlyWhatWasAddedAfterSaturation) {
  KeyAdmission a(Thresholds(1, 0));
  const int64_t key = 1;
  const int64_t big = std::numeric_limits<int64_t>::max() - 10;
  a.Record(1, &key, &big, 1);
  AdmissionUndo undo;
  const int64_t more = 100;
  a.Record(1, &key, &more, 2, &undo);
  EXPECT_EQ(undo.added, std::vector<int64_t>{10});
  a.Undo(undo);
  EXPECT_EQ(Records(a).at(1), (Record{big, 1}));
}

// Undo restores a last-seen time only if no later call moved it, and the
// clock only if no later call moved it; it skips records forgotten meanwhile.
TEST(KeyAdmissionTest, UndoLeavesLaterRecordsAlone) {
  KeyAdmission a(Thresholds(1, 0));
  const std::vector<int64_t> keys = {1, 2, 3};
  const std::vector<int64_t> w = {1, 1, 1};
  a.Record(3, keys.data(), w.data(), 1);
  AdmissionUndo first;
  a.Record(3, keys.data(), w.data(), 4, &first);
  a.Record(1, &keys[0], &w[0], 7);  // key 1 seen later; clock 7
  a.Forget(1, &keys[1]);            // key 2 forgotten meanwhile
  a.Undo(first);
  const auto records = Records(a);
  EXPECT_EQ(records.at(1), (Record{2, 7}));  // one occurrence left, the later time kept
  EXPECT_EQ(records.count(2), 0u);           // skipped, not re-created
  EXPECT_EQ(records.at(3), (Record{1, 1}));  // restored
  EXPECT_EQ(a.clock(), 7);                   // a later call moved it
  // Undo in reverse order of the calls restores everything.
  KeyAdmission b(Thresholds(1, 0));
  AdmissionUndo u1, u2;
  b.Record(3, keys.data(), w.data(), 3, &u1);
  b.Record(2, keys.data(), w.data(), 6, &u2);
  b.Undo(u2);
  b.Undo(u1);
  EXPECT_EQ(b.size(), 0);
  EXPECT_EQ(b.clock(), 0);
}

// Two calls at the same time: taking back the first must leave what the
// second recorded (its last-seen times and the clock it passed), since "a
// later call set it". Batch timestamps and global steps repeat across
// concurrent steps.
TEST(KeyAdmissionTest, UndoOfOneOfTwoCallsAtTheSameTimeKeepsTheOther) {
  KeyAdmission a(Thresholds(1, 0));
  const int64_t key = 1, one = 1;
  a.Record(1, &key, &one, 2);
  AdmissionUndo first;
  a.Record(1, &key, &one, 5, &first);
  a.Record(1, &key, &one, 5);  // another step, same timestamp
  a.Undo(first);
  EXPECT_EQ(Records(a).at(1), (Record{2, 5}));
  EXPECT_EQ(a.clock(), 5);
}

TEST(AdmissionOptionsTest, ValidateNamesTheField) {
  EXPECT_NE(Thresholds(0, 0).Validate().message().find("access_threshold"), std::string::npos);
  EXPECT_NE(Thresholds(1, -1).Validate().message().find("eviction_threshold"), std::string::npos);
  EXPECT_TRUE(Thresholds(1, 0).Validate().ok());
}

class HbmAdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = MakeTable(TieredOptions(8, 0, 4));
    ASSERT_TRUE(table_->ConfigureAdmission(Thresholds(2, 5)).ok());
  }
  // One step: Lookup recording the access, then Fill, as the graph runs them.
  void Step(const std::vector<int64_t>& keys, const std::vector<int32_t>& counts, int64_t time,
            std::vector<int64_t>* slots, std::vector<bool>* is_new) {
    KeyAccess access;
    access.counts = counts.data();
    access.time = time;
    const LookupResult r = RunStep(table_.get(), &dev_, keys, &access);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    *slots = r.slots;
    *is_new = r.needs_init;
  }
  std::unique_ptr<Table> table_;
  FakeDevice dev_{8, 4};
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
  EXPECT_EQ(s.hits + s.misses + s.rejected, 3);
}

// The coefficient weights every occurrence.
TEST_F(HbmAdmissionTest, CoefficientWeightsTheCounts) {
  const std::vector<int64_t> keys = {20};
  const std::vector<int32_t> counts = {1};
  KeyAccess access;
  access.counts = counts.data();
  access.coefficient = 2;
  access.time = 1;
  const LookupResult r = RunStep(table_.get(), &dev_, keys, &access);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_GE(r.slots[0], 0);  // 1 occurrence * 2 >= 2
}

TEST_F(HbmAdmissionTest, EvictStaleFreesSlotsForReuse) {
  std::vector<int64_t> slots;
  std::vector<bool> is_new;
  Step({1, 2}, {2, 2}, 1, &slots, &is_new);
  const int64_t slot_of_1 = slots[0];
  Step({2}, {1}, 7, &slots, &is_new);  // clock 7: key 1 is 6 > 5 old
  int64_t evicted = 0;
  ASSERT_TRUE(table_->EvictStale(&evicted).ok());
  EXPECT_EQ(evicted, 1);
  EXPECT_EQ(table_->size(), 1);
  EXPECT_EQ(table_->stats().stale_evicted, 1);
  EXPECT_EQ(table_->stats().device_keys, 1);
  EXPECT_EQ(Locate(*table_, {1, 2}), (std::vector<int8_t>{kTierAbsent, kTierDevice}));
  Step({3}, {2}, 8, &slots, &is_new);
  EXPECT_EQ(slots[0], slot_of_1);  // the freed slot is reused
  EXPECT_TRUE(is_new[0]);
}

TEST_F(HbmAdmissionTest, ReconfiguringWithOtherThresholdsFails) {
  EXPECT_TRUE(table_->ConfigureAdmission(Thresholds(2, 5)).ok());
  const Status s = table_->ConfigureAdmission(Thresholds(3, 5));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("access_threshold=2"), std::string::npos);
  EXPECT_NE(s.message().find("access_threshold=3"), std::string::npos);
  EXPECT_EQ(table_->ConfigureAdmission(Thresholds(0, 5)).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(table_->has_admission());
}

// Without a time, a lookup is seen at the table's own count of steps with
// training lookups: every lookup of one step at the same time.
TEST(TableAdmissionTest, LookupWithoutTimeCountsTrainingSteps) {
  auto table = MakeTable(TieredOptions(8, 0, 4));
  FakeDevice dev(8, 4);
  ASSERT_TRUE(table->ConfigureAdmission(Thresholds(1, 1)).ok());
  const int32_t one = 1;
  KeyAccess access;
  access.counts = &one;  // time -1: the table's own clock
  const Table::StepId s1 = table->BeginStep();
  for (int64_t key : {1, 2}) {
    const LookupResult r = testing_util::LookupKeys<int64_t>(table.get(), s1, {key}, &dev, &access);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    ASSERT_TRUE(testing_util::FillNew<int64_t>(table.get(), s1, {key}, r, &dev).ok());
  }
  table->EndStep(s1, true);
  ASSERT_TRUE(RunStep(table.get(), &dev, {2}, &access).status.ok());  // step 2
  // A step without training lookups does not count.
  table->EndStep(table->BeginStep(), true);
  ASSERT_TRUE(RunStep(table.get(), &dev, {2}, &access).status.ok());  // step 3
  std::vector<int64_t> keys, counts, seen;
  ASSERT_TRUE(table->ExportAdmission(&keys, &counts, &seen).ok());
  ASSERT_EQ(keys.size(), 2u);
  if (keys[0] != 1) {
    std::swap(keys[0], keys[1]);
    std::swap(seen[0], seen[1]);
    std::swap(counts[0], counts[1]);
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(counts, (std::vector<int64_t>{1, 3}));
  int64_t evicted = 0;
  ASSERT_TRUE(table->EvictStale(&evicted).ok());  // key 1 is 2 > 1 steps old
  EXPECT_EQ(evicted, 1);
  EXPECT_EQ(testing_util::TierOf(*table, 1), kTierAbsent);
  ASSERT_TRUE(table->ExportAdmission(&keys, &counts, &seen).ok());
  EXPECT_EQ(keys, std::vector<int64_t>{2});
}

TEST(TableAdmissionTest, BadCallsAreErrorsNotCrashes) {
  auto table = MakeTable(TieredOptions(8, 0, 4));
  FakeDevice dev(8, 4);
  const int32_t c = 1;
  KeyAccess access;
  access.counts = &c;
  access.time = 0;
  LookupResult r = RunStep(table.get(), &dev, {1}, &access);  // not configured
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status.message().find("access_threshold"), std::string::npos);
  int64_t evicted = 0;
  EXPECT_EQ(table->EvictStale(&evicted).code(), StatusCode::kFailedPrecondition);
  std::vector<int64_t> keys, counts, seen;
  EXPECT_EQ(table->ExportAdmission(&keys, &counts, &seen).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(table->ImportAdmission(0, nullptr, nullptr, nullptr).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(table->has_admission());
  ASSERT_TRUE(table->ConfigureAdmission(Thresholds(1, 0)).ok());
  EXPECT_EQ(table->EvictStale(&evicted).code(), StatusCode::kFailedPrecondition);
  access.coefficient = 0;
  EXPECT_EQ(RunStep(table.get(), &dev, {1}, &access).status.code(), StatusCode::kInvalidArgument);
  access.coefficient = 1;
  const int32_t negative = -1;
  access.counts = &negative;
  EXPECT_EQ(RunStep(table.get(), &dev, {1}, &access).status.code(), StatusCode::kInvalidArgument);
  access.counts = nullptr;
  EXPECT_EQ(RunStep(table.get(), &dev, {1}, &access).status.code(), StatusCode::kInvalidArgument);
  // None of them recorded or inserted anything.
  EXPECT_EQ(table->size(), 0);
  ASSERT_TRUE(table->ExportAdmission(&keys, &counts, &seen).ok());
  EXPECT_TRUE(keys.empty());
}

// "access ... Required when admission is configured": a training lookup of a
// table with admission but without its access record is an error, not a
// lookup that silently never admits a new key.
TEST(TableAdmissionTest, LookupWithoutAccessIsRejectedWhenAdmissionIsOn) {
  auto table = MakeTable(TieredOptions(8, 0, 4));
  FakeDevice dev(8, 4);
  ASSERT_TRUE(table->ConfigureAdmission(Thresholds(1, 0)).ok());
  const LookupResult r = RunStep(table.get(), &dev, {1}, /*access=*/nullptr);
  EXPECT_FALSE(r.status.ok()) << "slot " << r.slots[0];
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument) << r.status.message();
  EXPECT_EQ(table->stats().rejected, 0);
}

TEST(TableAdmissionTest, DdrModeRejectsUnadmittedAndEvictsFromEveryTier) {
  auto table = MakeTable(TieredOptions(2, 10, 2));
  FakeDevice dev(2, 2);
  ASSERT_TRUE(table->ConfigureAdmission(Thresholds(1, 3)).ok());
  auto step = [&](const std::vector<int64_t>& keys, const std::vector<int32_t>& counts,
                  int64_t time) {
    KeyAccess access;
    access.counts = counts.data();
    access.time = time;
    LookupResult r = RunStep(table.get(), &dev, keys, &access);
    EXPECT_TRUE(r.status.ok()) << r.status.message();
    return r;
  };
  step({1, 2}, {1, 1}, 0);
  auto r = step({3, 4, 5}, {1, 1, 0}, 1);  // key 5: count 0, not admitted
  EXPECT_EQ(r.slots[2], -1);
  EXPECT_FALSE(r.needs_init[2]);
  EXPECT_EQ(Locate(*table, {1, 2, 3, 4, 5}),
            (std::vector<int8_t>{kTierHost, kTierHost, kTierDevice, kTierDevice, kTierAbsent}));
  EXPECT_EQ(table->stats().rejected, 1);
  step({3}, {1}, 4);  // clock 4: keys 1, 2 (seen at 0) are stale; 4, 5 (seen at 1) are not
  int64_t evicted = 0;
  ASSERT_TRUE(table->EvictStale(&evicted).ok());
  EXPECT_EQ(evicted, 2);  // both were on the host tier
  EXPECT_EQ(Locate(*table, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierAbsent, kTierAbsent, kTierDevice, kTierDevice}));
  EXPECT_EQ(table->stats().host_keys, 0);
  EXPECT_EQ(table->stats().device_keys, 2);
  EXPECT_EQ(table->stats().stale_evicted, 2);
}

}  // namespace
}  // namespace asc
