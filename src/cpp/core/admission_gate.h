// Private to libasc: AdmissionGate, feature admission (FAAE) as a table's
// lookups see it: the KeyAdmission records, what each open step recorded (so
// a step that does not commit can take it back), the table's own clock for
// lookups that pass no time, and which absent keys of a lookup are turned
// away.
//
// The own clock counts steps with training lookups that passed no time: a
// step's first such lookup advances it, and that step's lookups all record
// at the value it reached. A step that does not commit takes its advance
// back, unless a later step advanced the clock since.
//
// A table has a gate from ConfigureAdmission on (never before, never
// removed). Steps are identified by the owner's step ids; the gate keeps
// state only for open steps that recorded something, until EndStep.
//
// Thread-safety: none. The owner serialises (Table: under its exclusive lock;
// const accessors also under its shared lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "asc/admission.h"
#include "asc/status.h"
#include "asc/table.h"

namespace asc {
namespace internal {

class AdmissionGate {
 public:
  // Precondition: options.Validate() passed.
  explicit AdmissionGate(const AdmissionOptions& options) : records_(options) {}

  const AdmissionOptions& options() const { return records_.options(); }
  // The records (export, import, forget, stale keys, counts).
  KeyAdmission& records() { return records_; }
  const KeyAdmission& records() const { return records_; }

  // Records the access of one training lookup of `step` over unique
  // keys[0..n): weight counts[i] * coefficient at access.time, or when that
  // is < 0 at the step's own time (see the file comment). *advanced: whether
  // this call advanced the own clock (UndoLast needs it). InvalidArgument
  // naming `table` for a coefficient < 1, no counts, or a count < 0 (nothing
  // changes then). `scratch` is a buffer the caller lends (n entries used).
  Status Record(const std::string& table, uint64_t step, int64_t n, const int64_t* keys,
                const KeyAccess& access, std::vector<int64_t>* scratch, bool* advanced);
  // Takes back the last Record of `step` (the lookup failed after it).
  // Precondition: Record of `step` succeeded, with *advanced = `advanced`,
  // and nothing else of `step` happened since.
  void UndoLast(uint64_t step, bool advanced);
  // `step` ended: forgets what it recorded and, unless `commit`, takes it
  // back (newest first) with its own-clock advance. Unknown steps: no-op.
  void EndStep(uint64_t step, bool commit);

  // For each slots[i] == KeySlotMap::kNoSlot (keys[i] is absent) whose key is
  // not admitted, sets slots[i] = kRejected (location.h); returns how many.
  // `scratch` holds n keys.
  int64_t MarkRejected(int64_t n, const int64_t* keys, int64_t* slots, int64_t* scratch);

  // The own clock (see the file comment).
  int64_t own_clock() const { return own_clock_; }
  // Restores the records' latest time and the own clock (a checkpoint's);
  // no step may be open.
  void SetClocks(int64_t time, int64_t own_clock) {
    records_.SetClock(time);
    own_clock_ = own_clock;
  }

  // Heap bytes of the records and the admitted-flags buffer (step logs are
  // not counted).
  int64_t memory_bytes() const { return records_.memory_bytes() + admitted_capacity_; }

 private:
  // What one open step recorded.
  struct StepLog {
    std::vector<AdmissionUndo> undo;  // per recorded lookup, in order
    bool advanced_clock = false;      // own_clock_ was advanced for the step
    int64_t own_clock = 0;            // own_clock_ after the advance
  };

  KeyAdmission records_;
  std::unordered_map<uint64_t, StepLog> steps_;
  std::unique_ptr<bool[]> admitted_;  // MarkRejected scratch
  int64_t admitted_capacity_ = 0;
  int64_t own_clock_ = 0;  // steps with training lookups that passed no time
};

}  // namespace internal
}  // namespace asc
