#include "admission_gate.h"

#include "asc/key_map.h"
#include "location.h"

namespace asc {
namespace internal {

Status AdmissionGate::Record(const std::string& table, uint64_t step, int64_t n,
                             const int64_t* keys, const KeyAccess& access,
                             std::vector<int64_t>* scratch, bool* advanced) {
  *advanced = false;
  if (access.coefficient < 1 || access.counts == nullptr) {
    return Status::InvalidArgument("lookup of table '" + table +
                                   "': faae_coefficient must be >= 1, got " +
                                   std::to_string(access.coefficient));
  }
  std::vector<int64_t>& weights = *scratch;
  weights.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (access.counts[i] < 0) {
      return Status::InvalidArgument("lookup of table '" + table +
                                     "': occurrence counts must be >= 0, got " +
                                     std::to_string(access.counts[i]));
    }
    // counts < 2^31 and coefficient < 2^31 cannot overflow int64.
    weights[static_cast<size_t>(i)] = static_cast<int64_t>(access.counts[i]) * access.coefficient;
  }
  StepLog& log = steps_[step];
  int64_t time = access.time;
  if (time < 0) {
    if (!log.advanced_clock) {
      log.advanced_clock = true;
      log.own_clock = ++own_clock_;
      *advanced = true;
    }
    time = log.own_clock;
  }
  log.undo.emplace_back();
  records_.Record(n, keys, weights.data(), time, &log.undo.back());
  return Status::OK();
}

void AdmissionGate::UndoLast(uint64_t step, bool advanced) {
  StepLog& log = steps_[step];
  records_.Undo(log.undo.back());
  log.undo.pop_back();
  if (advanced) {
    log.advanced_clock = false;
    if (own_clock_ == log.own_clock) --own_clock_;
  }
}

void AdmissionGate::EndStep(uint64_t step, bool commit) {
  auto it = steps_.find(step);
  if (it == steps_.end()) return;
  if (!commit) {
    const StepLog& log = it->second;
    for (auto r = log.undo.rbegin(); r != log.undo.rend(); ++r) records_.Undo(*r);
    if (log.advanced_clock && own_clock_ == log.own_clock) --own_clock_;
  }
  steps_.erase(it);
}

int64_t AdmissionGate::MarkRejected(int64_t n, const int64_t* keys, int64_t* slots,
                                    int64_t* scratch) {
  int64_t absent = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot) scratch[absent++] = keys[i];
  }
  if (admitted_capacity_ < absent) {
    admitted_.reset(new bool[static_cast<size_t>(absent)]);
    admitted_capacity_ = absent;
  }
  records_.Admitted(absent, scratch, admitted_.get());
  int64_t rejected = 0;
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot && !admitted_[j++]) {
      slots[i] = kRejected;
      ++rejected;
    }
  }
  return rejected;
}

}  // namespace internal
}  // namespace asc
