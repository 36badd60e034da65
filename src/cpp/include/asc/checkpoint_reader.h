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

// Reads checkpoint `dir` (a full checkpoint, or a delta with its chain) of
// table `name` (used in messages) with key dtype `key_dtype` and embedding
// width `dim`. Errors as LoadTableCheckpoint: NotFound for a missing
// directory or file, DataLoss for a damaged one, InvalidArgument when the
// key dtype or dim differ.
Status ReadTableCheckpoint(const std::string& dir, const std::string& name, KeyType key_dtype,
                           int64_t dim, CheckpointRows* out);

}  // namespace asc
