#include "tier_swap.h"

#include <algorithm>

#include "location.h"

namespace asc {
namespace internal {

Status TierSwap::Plan(const std::string& table, const Demand& demand, const Room& room) {
  victims_ = 0;
  demote_ = 0;
  from_ssd_ = demand.from_ssd;
  // Slots pinned by open steps (this lookup's hits once pinned) cannot be
  // victims; hot slots can (DeviceTier::Victim).
  const int64_t victims =
      std::max<int64_t>(0, demand.moving - (room.device_capacity - room.device_used));
  int64_t demote = 0;
  if (victims > 0) {
    if (victims > room.device_used - room.pinned) {
      return Status::ResourceExhausted(
          "table '" + table + "': the device tier (device_vocabulary_size=" +
          std::to_string(room.device_capacity) + ") cannot hold the unique keys of the steps running " +
          "now: " + std::to_string(room.pinned) + " rows are in use and this lookup needs " +
          std::to_string(demand.moving) + " more; enlarge device_vocabulary_size");
    }
    // Host rows are released (loads) before victims reserve theirs, so the
    // tier never holds more than max(now, after) rows during the call.
    const int64_t host_after = room.host_size - demand.from_host + victims;
    if (host_after > room.host_capacity && room.has_ssd) {
      // Demote the excess to SSD; rows this call loads are not candidates.
      demote = host_after - room.host_capacity;
      const int64_t ssd_after = room.ssd_size - demand.from_ssd + demote;
      if (demote > room.host_size - demand.from_host || ssd_after > room.ssd_capacity) {
        return Status::ResourceExhausted(
            "table '" + table + "': every tier is full (device_vocabulary_size=" +
            std::to_string(room.device_capacity) + ", host_vocabulary_size=" +
            std::to_string(room.host_capacity) + ", ssd_vocabulary_size=" +
            std::to_string(room.ssd_capacity) + "; " + std::to_string(room.host_size) +
            " host rows and " + std::to_string(room.ssd_size) + " SSD rows held); this lookup evicts " +
            std::to_string(victims) + " rows and loads " + std::to_string(demand.from_host) +
            " from host and " + std::to_string(demand.from_ssd) +
            " from SSD; enlarge ssd_vocabulary_size or host_vocabulary_size");
      }
    } else if (host_after > room.host_capacity) {
      return Status::ResourceExhausted(
          "table '" + table + "': the host tier is full (host_vocabulary_size=" +
          std::to_string(room.host_capacity) + ", " + std::to_string(room.host_size) +
          " rows held); this lookup evicts " + std::to_string(victims) + " rows and loads " +
          std::to_string(demand.from_host) + "; enlarge host_vocabulary_size");
    }
  }
  victims_ = victims;
  demote_ = demote;
  return Status::OK();
}

Status TierSwap::Stage(const std::string& table, int64_t n, const int64_t* keys,
                       const int64_t* locations, HostStore* host, SsdTier* ssd) {
  demoted_rows_.clear();
  if (from_ssd_ == 0 && demote_ == 0) return Status::OK();
  const int64_t w = host->row_width();
  ssd_keys_.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (IsOnSsd(locations[i])) ssd_keys_.push_back(keys[i]);
  }
  ssd_rows_.resize(static_cast<size_t>(from_ssd_ * w));
  if (ssd_found_capacity_ < from_ssd_) {
    ssd_found_.reset(new bool[static_cast<size_t>(from_ssd_)]);
    ssd_found_capacity_ = from_ssd_;
  }
  ASC_RETURN_IF_ERROR(ssd->Get(from_ssd_, ssd_keys_.data(), ssd_rows_.data(), ssd_found_.get()));
  for (int64_t j = 0; j < from_ssd_; ++j) {
    if (!ssd_found_[j]) {
      return Status::Internal("table '" + table + "': key " + std::to_string(ssd_keys_[j]) +
                              " is mapped to the SSD tier but the SSD tier does not hold it");
    }
  }
  host->BeginDemotion();
  for (int64_t i = 0; i < n; ++i) {
    if (IsHostRow(locations[i])) host->Exclude(HostRowOf(locations[i]));
  }
  demoted_keys_.clear();
  demoted_data_.resize(static_cast<size_t>(demote_ * w));
  for (int64_t d = 0; d < demote_; ++d) {
    const int64_t row = host->SampleDemotionVictim();
    demoted_rows_.push_back(row);
    demoted_keys_.push_back(host->key(row));
    std::copy_n(host->Row(row), w, demoted_data_.data() + d * w);
  }
  const Status s =
      ssd->Exchange(demote_, demoted_keys_.data(), demoted_data_.data(), from_ssd_, ssd_keys_.data());
  if (!s.ok()) {
    demoted_rows_.clear();
    return Status(s.code(), "lookup of table '" + table + "': " + s.message());
  }
  return Status::OK();
}

void TierSwap::BeginMoves(int64_t row_width) {
  row_width_ = row_width;
  evict_slots_.clear();
  evict_rows_.clear();
  load_slots_.clear();
  load_data_.clear();
}

Status TierSwap::Transfer(DeviceRows* rows, HostStore* host, std::vector<float>* scratch) const {
  const int64_t evicted = static_cast<int64_t>(evict_slots_.size());
  scratch->resize(static_cast<size_t>(evicted * row_width_));
  ASC_RETURN_IF_ERROR(rows->Gather(evicted, evict_slots_.data(), scratch->data()));
  for (int64_t j = 0; j < evicted; ++j) {
    std::copy_n(scratch->data() + j * row_width_, row_width_,
                host->Row(evict_rows_[static_cast<size_t>(j)]));
  }
  return rows->Scatter(static_cast<int64_t>(load_slots_.size()), load_slots_.data(),
                       load_data_.data());
}

int64_t TierSwap::memory_bytes() const {
  constexpr int64_t kI64 = sizeof(int64_t);
  return static_cast<int64_t>(load_data_.capacity() * sizeof(float)) +
         static_cast<int64_t>(demoted_rows_.capacity() + demoted_keys_.capacity() +
                              ssd_keys_.capacity()) * kI64 +
         static_cast<int64_t>((demoted_data_.capacity() + ssd_rows_.capacity()) * sizeof(float)) +
         ssd_found_capacity_;
}

}  // namespace internal
}  // namespace asc
