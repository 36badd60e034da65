#include "asc/admission.h"

#include <algorithm>
#include <limits>
#include <string>

namespace asc {
namespace {
constexpr int64_t kMaxCount = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxRecords = int64_t{1} << 40;
}  // namespace

Status AdmissionOptions::Validate() const {
  if (access_threshold < 1 || access_threshold > kMaxThreshold) {
    return Status::InvalidArgument("access_threshold must be in [1, 2^62], got " +
                                   std::to_string(access_threshold));
  }
  if (eviction_threshold < 0 || eviction_threshold > kMaxThreshold) {
    return Status::InvalidArgument("eviction_threshold must be in [0, 2^62] (0 = never), got " +
                                   std::to_string(eviction_threshold));
  }
  return Status::OK();
}

KeyAdmission::KeyAdmission(const AdmissionOptions& options)
    : options_(options), records_(kMaxRecords) {}

int64_t KeyAdmission::RecordOf(int64_t key) {
  int64_t r;
  index_.FindBatch(1, &key, &r);
  if (r != KeySlotMap::kNoSlot) return r;
  r = records_.Allocate();
  if (r >= static_cast<int64_t>(key_.size())) {
    key_.resize(static_cast<size_t>(r) + 1);
    count_.resize(static_cast<size_t>(r) + 1);
    last_seen_.resize(static_cast<size_t>(r) + 1);
    last_call_.resize(static_cast<size_t>(r) + 1);
  }
  last_call_[static_cast<size_t>(r)] = 0;
  key_[static_cast<size_t>(r)] = key;
  count_[static_cast<size_t>(r)] = 0;
  last_seen_[static_cast<size_t>(r)] = std::numeric_limits<int64_t>::min();
  index_.InsertBatch(1, &key, &r);
  return r;
}

void KeyAdmission::Record(int64_t n, const int64_t* keys, const int64_t* weights, int64_t time,
                          AdmissionUndo* undo) {
  scratch_.resize(static_cast<size_t>(n));
  index_.FindBatch(n, keys, scratch_.data());
  if (++calls_ == 0) calls_ = 1;
  const uint32_t call = calls_;
  if (undo != nullptr) {
    undo->keys.assign(keys, keys + n);
    undo->added.resize(static_cast<size_t>(n));
    undo->last_seen.resize(static_cast<size_t>(n));
    undo->last_call.resize(static_cast<size_t>(n));
    undo->created.resize(static_cast<size_t>(n));
    undo->time = time;
    undo->clock = clock_;
    undo->call = call;
    undo->clock_call = clock_call_;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = scratch_[static_cast<size_t>(i)];
    const bool created = r == KeySlotMap::kNoSlot;
    if (created) r = RecordOf(keys[i]);
    int64_t& c = count_[static_cast<size_t>(r)];
    const int64_t before = c;
    c = weights[i] > kMaxCount - c ? kMaxCount : c + weights[i];
    int64_t& seen = last_seen_[static_cast<size_t>(r)];
    if (undo != nullptr) {
      undo->added[static_cast<size_t>(i)] = c - before;
      undo->last_seen[static_cast<size_t>(i)] = seen;
      undo->last_call[static_cast<size_t>(i)] = last_call_[static_cast<size_t>(r)];
      undo->created[static_cast<size_t>(i)] = created ? 1 : 0;
    }
    seen = std::max(seen, time);
    last_call_[static_cast<size_t>(r)] = call;
  }
  if (time >= clock_) {
    clock_ = time;
    clock_call_ = call;
  }
}

void KeyAdmission::Undo(const AdmissionUndo& undo) {
  const int64_t n = static_cast<int64_t>(undo.keys.size());
  scratch_.resize(static_cast<size_t>(n));
  index_.FindBatch(n, undo.keys.data(), scratch_.data());
  std::vector<int64_t> forget;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = scratch_[static_cast<size_t>(i)];
    if (r == KeySlotMap::kNoSlot) continue;
    int64_t& c = count_[static_cast<size_t>(r)];
    c = std::max<int64_t>(0, c - undo.added[static_cast<size_t>(i)]);
    if (last_call_[static_cast<size_t>(r)] == undo.call) {
      last_seen_[static_cast<size_t>(r)] = undo.last_seen[static_cast<size_t>(i)];
      last_call_[static_cast<size_t>(r)] = undo.last_call[static_cast<size_t>(i)];
    }
    if (undo.created[static_cast<size_t>(i)] != 0 && c == 0) forget.push_back(undo.keys[i]);
  }
  Forget(static_cast<int64_t>(forget.size()), forget.data());
  if (clock_call_ == undo.call) {
    clock_ = undo.clock;
    clock_call_ = undo.clock_call;
  }
}

void KeyAdmission::Admitted(int64_t n, const int64_t* keys, bool* admitted) const {
  scratch_.resize(static_cast<size_t>(n));
  index_.FindBatch(n, keys, scratch_.data());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = scratch_[static_cast<size_t>(i)];
    admitted[i] = r != KeySlotMap::kNoSlot &&
                  count_[static_cast<size_t>(r)] >= options_.access_threshold;
  }
}

void KeyAdmission::TakeStale(std::vector<int64_t>* keys) {
  keys->clear();
  if (options_.eviction_threshold == 0) return;
  // clock_ - threshold may underflow for early clocks; compare the gap instead.
  index_.ForEach([&](int64_t key, int64_t r) {
    const int64_t seen = last_seen_[static_cast<size_t>(r)];
    if (seen < clock_ && static_cast<uint64_t>(clock_) - static_cast<uint64_t>(seen) >
                             static_cast<uint64_t>(options_.eviction_threshold)) {
      keys->push_back(key);
    }
  });
  Forget(static_cast<int64_t>(keys->size()), keys->data());
}

void KeyAdmission::Forget(int64_t n, const int64_t* keys) {
  scratch_.resize(static_cast<size_t>(n));
  index_.EraseBatch(n, keys, scratch_.data());
  for (int64_t i = 0; i < n; ++i) {
    if (scratch_[static_cast<size_t>(i)] != KeySlotMap::kNoSlot) {
      records_.Release(scratch_[static_cast<size_t>(i)]);
    }
  }
}

void KeyAdmission::Export(std::vector<int64_t>* keys, std::vector<int64_t>* counts,
                          std::vector<int64_t>* last_seen) const {
  keys->clear();
  counts->clear();
  last_seen->clear();
  index_.ForEach([&](int64_t key, int64_t r) {
    keys->push_back(key);
    counts->push_back(count_[static_cast<size_t>(r)]);
    last_seen->push_back(last_seen_[static_cast<size_t>(r)]);
  });
}

void KeyAdmission::SetClock(int64_t time) {
  // Import already raised clock_ to the latest last-seen time.
  clock_ = std::max(clock_, time);
  clock_call_ = 0;
}

namespace {

Status CheckRecords(int64_t n, const int64_t* keys, const int64_t* counts) {
  KeySlotMap check(n);
  for (int64_t i = 0; i < n; ++i) {
    if (counts[i] < 0) {
      return Status::InvalidArgument("admission import: count of key " + std::to_string(keys[i]) +
                                     " must be >= 0, got " + std::to_string(counts[i]));
    }
    int64_t probe;
    check.FindBatch(1, keys + i, &probe);
    if (probe != KeySlotMap::kNoSlot) {
      return Status::InvalidArgument("admission import: key " + std::to_string(keys[i]) +
                                     " appears twice");
    }
    check.InsertBatch(1, keys + i, &i);
  }
  return Status::OK();
}

}  // namespace

Status KeyAdmission::Import(int64_t n, const int64_t* keys, const int64_t* counts,
                            const int64_t* last_seen) {
  ASC_RETURN_IF_ERROR(CheckRecords(n, keys, counts));
  std::vector<int64_t> old_keys, unused_counts, unused_seen;
  Export(&old_keys, &unused_counts, &unused_seen);
  Forget(static_cast<int64_t>(old_keys.size()), old_keys.data());
  return Merge(n, keys, counts, last_seen);
}

Status KeyAdmission::Merge(int64_t n, const int64_t* keys, const int64_t* counts,
                           const int64_t* last_seen) {
  ASC_RETURN_IF_ERROR(CheckRecords(n, keys, counts));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = RecordOf(keys[i]);
    count_[static_cast<size_t>(r)] = counts[i];
    last_seen_[static_cast<size_t>(r)] = last_seen[i];
    clock_ = std::max(clock_, last_seen[i]);
  }
  return Status::OK();
}

void KeyAdmission::ExportOf(int64_t n, const int64_t* keys, std::vector<int64_t>* out_keys,
                            std::vector<int64_t>* counts, std::vector<int64_t>* last_seen) const {
  out_keys->clear();
  counts->clear();
  last_seen->clear();
  for (int64_t i = 0; i < n; ++i) {
    int64_t r;
    index_.FindBatch(1, keys + i, &r);
    if (r == KeySlotMap::kNoSlot) continue;
    out_keys->push_back(keys[i]);
    counts->push_back(count_[static_cast<size_t>(r)]);
    last_seen->push_back(last_seen_[static_cast<size_t>(r)]);
  }
}

int64_t KeyAdmission::memory_bytes() const {
  return index_.memory_bytes() +
         static_cast<int64_t>((key_.capacity() + count_.capacity() + last_seen_.capacity() +
                               scratch_.capacity()) *
                              sizeof(int64_t)) +
         static_cast<int64_t>(last_call_.capacity() * sizeof(uint32_t));
}

}  // namespace asc
