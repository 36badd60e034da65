// AdmissionGate: validation and weighting of a lookup's access, the own
// clock of lookups without a time, taking back a failed lookup or a step that
// does not commit, and the rejection of absent keys not admitted. Admission
// through a Table: admission_test.cc.
#include "../core/admission_gate.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "../core/location.h"
#include "asc/key_map.h"

namespace asc {
namespace internal {
namespace {

AdmissionOptions Threshold(int64_t access_threshold) {
  AdmissionOptions o;
  o.access_threshold = access_threshold;
  return o;
}

// Records keys (each counted once) in `step` at `time` (< 0: own time).
Status Record(AdmissionGate* gate, uint64_t step, std::vector<int64_t> keys, int64_t time = -1,
              int64_t coefficient = 1, bool* advanced = nullptr) {
  std::vector<int32_t> counts(keys.size(), 1);
  KeyAccess access;
  access.counts = counts.data();
  access.coefficient = coefficient;
  access.time = time;
  std::vector<int64_t> scratch;
  bool adv = false;
  const Status s = gate->Record("emb", step, static_cast<int64_t>(keys.size()), keys.data(), access,
                                &scratch, &adv);
  if (advanced != nullptr) *advanced = adv;
  return s;
}

// key -> (count, last seen).
std::map<int64_t, std::pair<int64_t, int64_t>> Records(const AdmissionGate& gate) {
  std::vector<int64_t> keys, counts, last_seen;
  gate.records().Export(&keys, &counts, &last_seen);
  std::map<int64_t, std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < keys.size(); ++i) out[keys[i]] = {counts[i], last_seen[i]};
  return out;
}

TEST(AdmissionGateTest, InvalidAccessNamesTheTableAndChangesNothing) {
  AdmissionGate gate(Threshold(1));
  EXPECT_EQ(Record(&gate, 1, {5}, -1, /*coefficient=*/0).message(),
            "lookup of table 'emb': faae_coefficient must be >= 1, got 0");
  const int64_t key = 5;
  const int32_t negative = -1;
  KeyAccess access;
  access.counts = &negative;
  std::vector<int64_t> scratch;
  bool advanced = true;
  EXPECT_EQ(gate.Record("emb", 1, 1, &key, access, &scratch, &advanced).message(),
            "lookup of table 'emb': occurrence counts must be >= 0, got -1");
  EXPECT_FALSE(advanced);
  access.counts = nullptr;
  access.coefficient = 3;
  EXPECT_EQ(gate.Record("emb", 1, 1, &key, access, &scratch, &advanced).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(gate.records().size(), 0);
  ASSERT_TRUE(Record(&gate, 2, {5}).ok());
  EXPECT_EQ(Records(gate)[5].second, 1);  // the own clock was not advanced by the failures
}

TEST(AdmissionGateTest, WeightsAreCountsTimesCoefficient) {
  AdmissionGate gate(Threshold(4));
  const std::vector<int64_t> keys = {1, 2};
  const std::vector<int32_t> counts = {2, 1};
  KeyAccess access;
  access.counts = counts.data();
  access.coefficient = 2;
  access.time = 10;
  std::vector<int64_t> scratch;
  bool advanced = true;
  ASSERT_TRUE(gate.Record("emb", 1, 2, keys.data(), access, &scratch, &advanced).ok());
  EXPECT_FALSE(advanced);  // a given time leaves the own clock alone
  auto records = Records(gate);
  EXPECT_EQ(records[1], std::make_pair(int64_t{4}, int64_t{10}));
  EXPECT_EQ(records[2], std::make_pair(int64_t{2}, int64_t{10}));
}

TEST(AdmissionGateTest, OwnClockAdvancesOncePerStep) {
  AdmissionGate gate(Threshold(1));
  bool advanced = false;
  ASSERT_TRUE(Record(&gate, 7, {1}, -1, 1, &advanced).ok());
  EXPECT_TRUE(advanced);
  ASSERT_TRUE(Record(&gate, 7, {2}, -1, 1, &advanced).ok());
  EXPECT_FALSE(advanced);  // same step, same time
  ASSERT_TRUE(Record(&gate, 8, {3}).ok());
  auto records = Records(gate);
  EXPECT_EQ(records[1].second, 1);
  EXPECT_EQ(records[2].second, 1);
  EXPECT_EQ(records[3].second, 2);
}

TEST(AdmissionGateTest, AStepThatDoesNotCommitTakesBackItsRecordsAndClock) {
  AdmissionGate gate(Threshold(1));
  ASSERT_TRUE(Record(&gate, 1, {1}).ok());
  gate.EndStep(1, /*commit=*/true);
  ASSERT_TRUE(Record(&gate, 2, {1, 2}).ok());
  ASSERT_TRUE(Record(&gate, 2, {2}).ok());
  gate.EndStep(2, /*commit=*/false);
  auto records = Records(gate);
  EXPECT_EQ(records.size(), 1u);  // key 2's record was created by step 2
  EXPECT_EQ(records[1], std::make_pair(int64_t{1}, int64_t{1}));
  ASSERT_TRUE(Record(&gate, 3, {4}).ok());
  EXPECT_EQ(Records(gate)[4].second, 2);  // step 2's advance was taken back
  gate.EndStep(99, false);                // unknown: nothing
  EXPECT_EQ(gate.records().size(), 2);
}

TEST(AdmissionGateTest, AnAdvanceALaterStepBuiltOnStays) {
  AdmissionGate gate(Threshold(1));
  ASSERT_TRUE(Record(&gate, 1, {1}).ok());  // clock 1
  ASSERT_TRUE(Record(&gate, 2, {2}).ok());  // clock 2
  gate.EndStep(1, false);
  gate.EndStep(2, true);
  ASSERT_TRUE(Record(&gate, 3, {3}).ok());
  EXPECT_EQ(Records(gate)[3].second, 3);
}

TEST(AdmissionGateTest, UndoLastTakesBackOneLookup) {
  AdmissionGate gate(Threshold(1));
  ASSERT_TRUE(Record(&gate, 1, {1}).ok());
  bool advanced = true;
  ASSERT_TRUE(Record(&gate, 1, {1, 2}, -1, 1, &advanced).ok());
  gate.UndoLast(1, advanced);
  auto records = Records(gate);
  EXPECT_EQ(records.size(), 1u);
  EXPECT_EQ(records[1].first, 1);
  // The first lookup of a step advanced the clock: undoing it takes that back.
  ASSERT_TRUE(Record(&gate, 2, {3}, -1, 1, &advanced).ok());
  ASSERT_TRUE(advanced);
  gate.UndoLast(2, advanced);
  ASSERT_TRUE(Record(&gate, 2, {3}).ok());
  EXPECT_EQ(Records(gate)[3].second, 2);
}

TEST(AdmissionGateTest, MarkRejectedTurnsAwayAbsentKeysNotAdmitted) {
  AdmissionGate gate(Threshold(2));
  ASSERT_TRUE(Record(&gate, 1, {1, 2, 3}).ok());
  ASSERT_TRUE(Record(&gate, 2, {1, 3}).ok());  // 1 and 3 reach 2
  const std::vector<int64_t> keys = {1, 2, 3, 4};
  // 3 is held already (slot 6); 1, 2, 4 are absent.
  std::vector<int64_t> slots = {KeySlotMap::kNoSlot, KeySlotMap::kNoSlot, 6, KeySlotMap::kNoSlot};
  std::vector<int64_t> scratch(keys.size());
  EXPECT_EQ(gate.MarkRejected(4, keys.data(), slots.data(), scratch.data()), 2);
  EXPECT_EQ(slots, (std::vector<int64_t>{KeySlotMap::kNoSlot, kRejected, 6, kRejected}));
  EXPECT_GT(gate.memory_bytes(), 0);
}

}  // namespace
}  // namespace internal
}  // namespace asc
