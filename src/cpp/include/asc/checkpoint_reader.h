// Reading a table checkpoint without a table: every key with its embedding,
// as flat arrays (what an export for serving freezes into standard ops).
//
// Built on the checkpoint utility and Table's public calls: the checkpoint
// (with its delta chain) is loaded into a private host-memory table that grows
// as needed, then exported. Optimizer state is not read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "asc/status.h"
#include "asc/table_checkpoint.h"

namespace asc {

// Keys and embeddings of one checkpoint, hottest first (Table::Export order).
struct CheckpointRows {
  std::vector<int64_t> keys;     // [n]
  std::vector<float> embedding;  // [n, dim], row i is keys[i]'s
  int64_t dim = 0;
};

// What to read and how much room to make for it.
struct CheckpointReadOptions {
  std::string name;                     // the table's name (used in messages)
  KeyType key_dtype = KeyType::kInt64;  // must match the checkpoint's
  int64_t dim = 0;                      // must match the checkpoint's
  // Rows to make room for up front (e.g. the manifests' row counts): the
  // private table then never rehashes or moves its rows while loading.
  // 0: start small and grow as needed.
  int64_t expected_rows = 0;
};

// Reads checkpoint `dir` (a full checkpoint, or a delta with its chain).
// Errors as LoadTableCheckpoint: NotFound for a missing directory or file,
// DataLoss for a damaged one, InvalidArgument when the key dtype or dim
// differ.
Status ReadTableCheckpoint(const std::string& dir, const CheckpointReadOptions& options,
                           CheckpointRows* out);

}  // namespace asc
