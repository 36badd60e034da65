// Micro-benchmark: asc::KeySlotMap against absl::flat_hash_map on the work the
// lookup path does, find-or-insert of a batch's unique keys, plus plain random
// finds in a 10M-key map. Build with -DASC_BUILD_BENCH=ON; run without args.
//
// The access stream is Zipf(1.05) over 10M ids, the skew typical of
// recommender features; ranks are scrambled so hot ids are not neighbours.
// Both maps see identical unique-key batches and must end with identical
// contents (checked), so they do the same work.
#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "asc/key_dedup.h"
#include "asc/key_map.h"
#include "asc/table.h"

namespace {

constexpr int64_t kDistinctIds = 10'000'000;
constexpr double kZipfExponent = 1.05;
constexpr int64_t kBatchKeys = 64 * 1024;
constexpr int kWarmBatches = 64;    // fill the maps before timing: steady state
constexpr int kTimedBatches = 192;
constexpr int64_t kRandomKeys = 10'000'000;
constexpr int kRandomFindBatches = 160;

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Rejection-inversion sampling (Hoermann & Derflinger 1996): O(1) per sample
// with no table, so 10M ranks cost no memory. Returns ranks in [1, n].
class ZipfSampler {
 public:
  ZipfSampler(int64_t n, double q)
      : n_(n), q_(q),
        h_low_(H(1.5) - 1.0),
        h_high_(H(static_cast<double>(n) + 0.5)),
        squeeze_(2.0 - HInverse(H(2.5) - std::pow(2.0, -q))) {}

  int64_t operator()(std::mt19937_64& rng) {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (;;) {
      const double u = h_high_ + uniform(rng) * (h_low_ - h_high_);
      const double x = HInverse(u);
      const int64_t k = std::clamp<int64_t>(static_cast<int64_t>(x + 0.5), 1, n_);
      const double kd = static_cast<double>(k);
      if (kd - x <= squeeze_ || u >= H(kd + 0.5) - std::pow(kd, -q_)) return k;
    }
  }

 private:
  // H is an antiderivative of x^-q; HInverse its inverse.
  double H(double x) const { return (std::pow(x, 1.0 - q_) - 1.0) / (1.0 - q_); }
  double HInverse(double y) const { return std::pow(1.0 + y * (1.0 - q_), 1.0 / (1.0 - q_)); }

  int64_t n_;
  double q_;
  double h_low_, h_high_, squeeze_;
};

// A bijection unrelated to the maps' own mixer, so hot ranks land on ids
// spread over the whole int64 range.
int64_t ScrambleRank(int64_t rank) {
  uint64_t x = static_cast<uint64_t>(rank) * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ULL;
  return static_cast<int64_t>(x ^ (x >> 32));
}

struct RunResult {
  double seconds = 0;
  int64_t keys = 0;          // unique keys looked up in the timed phase
  uint64_t checksum = 0;     // over every slot returned, to compare the maps
  int64_t final_size = 0;
  int64_t bytes = 0;
};

// Find, then insert the absent keys with fresh slots, as asc::Table does.
RunResult KeySlotMapFindOrInsert(const std::vector<std::vector<int64_t>>& batches) {
  RunResult r;
  asc::KeySlotMap map;
  std::vector<int64_t> slots(kBatchKeys), missing_keys(kBatchKeys), missing_slots(kBatchKeys);
  int64_t next_slot = 0;
  std::chrono::steady_clock::time_point start;
  for (size_t b = 0; b < batches.size(); ++b) {
    if (b == kWarmBatches) start = std::chrono::steady_clock::now();
    const int64_t n = static_cast<int64_t>(batches[b].size());
    const int64_t* keys = batches[b].data();
    map.FindBatch(n, keys, slots.data());
    int64_t missing = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (slots[i] == asc::KeySlotMap::kNoSlot) {
        slots[i] = next_slot++;
        missing_keys[missing] = keys[i];
        missing_slots[missing++] = slots[i];
      }
    }
    map.InsertBatch(missing, missing_keys.data(), missing_slots.data());
    if (b >= kWarmBatches) {
      r.keys += n;
      for (int64_t i = 0; i < n; ++i) r.checksum = r.checksum * 31 + static_cast<uint64_t>(slots[i]);
    }
  }
  r.seconds = Seconds(start);
  r.final_size = map.size();
  r.bytes = map.memory_bytes();
  return r;
}

RunResult AbslFindOrInsert(const std::vector<std::vector<int64_t>>& batches) {
  RunResult r;
  absl::flat_hash_map<int64_t, int64_t> map;
  std::vector<int64_t> slots(kBatchKeys);
  int64_t next_slot = 0;
  std::chrono::steady_clock::time_point start;
  for (size_t b = 0; b < batches.size(); ++b) {
    if (b == kWarmBatches) start = std::chrono::steady_clock::now();
    const int64_t n = static_cast<int64_t>(batches[b].size());
    const int64_t* keys = batches[b].data();
    for (int64_t i = 0; i < n; ++i) {
      auto [it, inserted] = map.try_emplace(keys[i], next_slot);
      next_slot += inserted ? 1 : 0;
      slots[i] = it->second;
    }
    if (b >= kWarmBatches) {
      r.keys += n;
      for (int64_t i = 0; i < n; ++i) r.checksum = r.checksum * 31 + static_cast<uint64_t>(slots[i]);
    }
  }
  r.seconds = Seconds(start);
  r.final_size = static_cast<int64_t>(map.size());
  // One control byte per slot beside each 16-byte slot (absl's layout).
  r.bytes = static_cast<int64_t>(map.capacity() * (sizeof(std::pair<int64_t, int64_t>) + 1));
  return r;
}

// The full Table path (exclusive lock, dedup check, slot allocator).
RunResult TableFindOrInsert(const std::vector<std::vector<int64_t>>& batches) {
  RunResult r;
  asc::TableOptions options;
  options.name = "bench";
  options.dim = 16;
  options.device_capacity = kDistinctIds;
  std::unique_ptr<asc::Table> table;
  if (!asc::Table::Create(options, &table).ok()) std::abort();
  std::vector<int64_t> slots(kBatchKeys);
  std::unique_ptr<bool[]> is_new(new bool[kBatchKeys]);
  int64_t capacity = 0;
  std::chrono::steady_clock::time_point start;
  for (size_t b = 0; b < batches.size(); ++b) {
    if (b == kWarmBatches) start = std::chrono::steady_clock::now();
    const int64_t n = static_cast<int64_t>(batches[b].size());
    if (!table->FindOrInsert(n, batches[b].data(), slots.data(), is_new.get(), &capacity).ok()) std::abort();
    if (b >= kWarmBatches) {
      r.keys += n;
      for (int64_t i = 0; i < n; ++i) r.checksum = r.checksum * 31 + static_cast<uint64_t>(slots[i]);
    }
  }
  r.seconds = Seconds(start);
  r.final_size = table->size();
  r.bytes = table->memory_bytes();
  return r;
}

void PrintRow(const char* name, const RunResult& r) {
  std::printf("  %-40s %8.1f M keys/s  %6.1f bytes/key  (%lld keys in map)\n", name,
              static_cast<double>(r.keys) / r.seconds / 1e6,
              static_cast<double>(r.bytes) / static_cast<double>(r.final_size),
              static_cast<long long>(r.final_size));
}

void ZipfFindOrInsert() {
  std::mt19937_64 rng(2024);
  ZipfSampler zipf(kDistinctIds, kZipfExponent);
  const int total_batches = kWarmBatches + kTimedBatches;
  std::vector<std::vector<int64_t>> batches(total_batches);
  std::vector<int64_t> raw(kBatchKeys);
  int64_t raw_keys = 0, rank_one = 0, unique_keys = 0;
  double dedup_seconds = 0;
  for (auto& batch : batches) {
    for (int64_t& k : raw) {
      const int64_t rank = zipf(rng);
      rank_one += rank == 1;
      k = ScrambleRank(rank);
    }
    batch.resize(kBatchKeys);
    const auto start = std::chrono::steady_clock::now();
    const int64_t u = asc::DedupKeys<int64_t>(kBatchKeys, raw.data(), batch.data(), nullptr, nullptr);
    dedup_seconds += Seconds(start);
    batch.resize(u);
    raw_keys += kBatchKeys;
    unique_keys += u;
  }
  double harmonic = 0;  // generalised harmonic number: P(rank 1) = 1 / harmonic
  for (int64_t k = kDistinctIds; k >= 1; --k) harmonic += std::pow(static_cast<double>(k), -kZipfExponent);

  std::printf("Zipf(%.2f) over %lld ids, %d batches of %lld keys (%d warm-up + %d timed)\n",
              kZipfExponent, static_cast<long long>(kDistinctIds), total_batches,
              static_cast<long long>(kBatchKeys), kWarmBatches, kTimedBatches);
  std::printf("  sampler check: P(rank 1) = %.4f, expected %.4f\n",
              static_cast<double>(rank_one) / static_cast<double>(raw_keys), 1.0 / harmonic);
  std::printf("  unique keys per batch: %.0f of %lld (%.1f%%)\n",
              static_cast<double>(unique_keys) / total_batches, static_cast<long long>(kBatchKeys),
              100.0 * static_cast<double>(unique_keys) / static_cast<double>(raw_keys));
  std::printf("  %-40s %8.1f M keys/s (raw keys)\n", "DedupKeys<int64>",
              static_cast<double>(raw_keys) / dedup_seconds / 1e6);

  // Best of three runs each, interleaved so load from other processes hits
  // all alike; every run must return the same slots.
  RunResult ours, absl_map, table;
  for (int rep = 0; rep < 3; ++rep) {
    const RunResult a = KeySlotMapFindOrInsert(batches);
    const RunResult b = AbslFindOrInsert(batches);
    const RunResult c = TableFindOrInsert(batches);
    if (a.checksum != b.checksum || a.final_size != b.final_size || a.checksum != c.checksum) {
      std::fprintf(stderr, "maps disagree: size %lld vs %lld\n", static_cast<long long>(a.final_size),
                   static_cast<long long>(b.final_size));
      std::exit(1);
    }
    if (rep == 0 || a.seconds < ours.seconds) ours = a;
    if (rep == 0 || b.seconds < absl_map.seconds) absl_map = b;
    if (rep == 0 || c.seconds < table.seconds) table = c;
  }
  std::printf("find-or-insert of unique keys, timed phase (best of 3):\n");
  PrintRow("asc::KeySlotMap FindBatch+InsertBatch", ours);
  PrintRow("absl::flat_hash_map try_emplace", absl_map);
  PrintRow("asc::Table::FindOrInsert", table);
  std::printf("  ratio KeySlotMap / absl: %.2fx\n", absl_map.seconds / ours.seconds);
}

void RandomFind() {
  std::mt19937_64 rng(7);
  std::vector<int64_t> keys(kRandomKeys), slots(kRandomKeys);
  for (int64_t i = 0; i < kRandomKeys; ++i) {
    keys[i] = static_cast<int64_t>(rng());
    slots[i] = i;
  }
  // Random 64-bit keys: a repeat has probability ~1e-5 over 10M draws, and a
  // repeat is simply a present key for both maps.
  asc::KeySlotMap ours;
  absl::flat_hash_map<int64_t, int64_t> absl_map;
  auto start = std::chrono::steady_clock::now();
  ours.InsertBatch(kRandomKeys, keys.data(), slots.data());
  const double ours_insert = Seconds(start);
  start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < kRandomKeys; ++i) absl_map.try_emplace(keys[i], slots[i]);
  const double absl_insert = Seconds(start);

  std::vector<int64_t> probe(kBatchKeys), found(kBatchKeys);
  uint64_t ours_sum = 0, absl_sum = 0;
  double ours_find = 0, absl_find = 0;
  for (int b = 0; b < kRandomFindBatches; ++b) {
    for (int64_t& k : probe) k = keys[rng() % kRandomKeys];
    start = std::chrono::steady_clock::now();
    ours.FindBatch(kBatchKeys, probe.data(), found.data());
    ours_find += Seconds(start);
    for (int64_t s : found) ours_sum += static_cast<uint64_t>(s);
    start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kBatchKeys; ++i) found[i] = absl_map.find(probe[i])->second;
    absl_find += Seconds(start);
    for (int64_t s : found) absl_sum += static_cast<uint64_t>(s);
  }
  if (ours_sum != absl_sum) {
    std::fprintf(stderr, "random find: maps disagree\n");
    std::exit(1);
  }
  const double lookups = static_cast<double>(kBatchKeys) * kRandomFindBatches;
  std::printf("uniform random int64 keys, %lld keys in the map:\n", static_cast<long long>(kRandomKeys));
  std::printf("  %-40s %8.1f M keys/s\n", "asc::KeySlotMap InsertBatch (one batch)",
              static_cast<double>(kRandomKeys) / ours_insert / 1e6);
  std::printf("  %-40s %8.1f M keys/s\n", "absl::flat_hash_map try_emplace",
              static_cast<double>(kRandomKeys) / absl_insert / 1e6);
  std::printf("  %-40s %8.1f M keys/s  %6.1f bytes/key\n", "asc::KeySlotMap FindBatch (64K batches)",
              lookups / ours_find / 1e6,
              static_cast<double>(ours.memory_bytes()) / static_cast<double>(ours.size()));
  std::printf("  %-40s %8.1f M keys/s  %6.1f bytes/key\n", "absl::flat_hash_map find",
              lookups / absl_find / 1e6,
              static_cast<double>(absl_map.capacity() * (sizeof(std::pair<int64_t, int64_t>) + 1)) /
                  static_cast<double>(absl_map.size()));
  std::printf("  ratio KeySlotMap / absl: find %.2fx, insert %.2fx\n", absl_find / ours_find,
              absl_insert / ours_insert);
}

}  // namespace

int main() {
  const auto start = std::chrono::steady_clock::now();
  ZipfFindOrInsert();
  RandomFind();
  std::printf("total bench time %.1f s\n", Seconds(start));
  return 0;
}
