// Table checkpoints: one table's whole state in a directory of files, written
// and read through Table's public calls (Export / Import / clocks /
// admission records), never through its internals.
//
// A checkpoint directory holds, for n keys (hottest first, as Table::Export
// orders them) and m admission records, all little-endian:
//   keys.bin        int64  [n]          the keys (never slots: a checkpoint
//                                       can be split by key across ranks)
//   freq.bin        uint32 [n]          access counts (device placement)
//   block-<i>.bin   float32 [n, width]  block i of each row: block 0 is the
//                                       embedding, then each optimizer state
//   admission.bin   int64  [m, 3]       (key, count, last_seen) records
//   tombstones.bin  int64  [t]          delta only: keys removed since the
//                                       checkpoint it builds on
//   manifest.json   written last: format and version, kind, table
//                   name and schema (key dtype, dim, blocks by name), global
//                   step, clocks, row and record counts, and every file's
//                   size and CRC-32.
//   manifest.crc32  the CRC-32 of manifest.json (8 hex digits).
// A "full" checkpoint holds every key and record. A "delta" holds only the
// keys looked up by committed steps since the previous save (rows of those
// still held, and their admission records) plus tombstones, and names in
// "chain" the checkpoints it builds on, full first, as paths relative to the
// directory two levels up (the one holding the TF checkpoint prefixes:
// "<prefix name>.mx_rec/<entry>"). Loading a delta loads its chain first.
// It is written into "<dir>.tmp-<pid>", every file and the directory are
// fsynced, and the directory is renamed to <dir>: a checkpoint either exists
// whole or not at all. Loading checks the manifest and the schema first,
// every file's size before importing anything and every file's CRC-32 while
// importing; on an error the caller's table holds a partial load and must be
// reset (TableResource does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "asc/device_rows.h"
#include "asc/status.h"
#include "asc/table.h"

namespace asc {

// Block of a row in a checkpoint: the embedding, or one optimizer state.
struct CheckpointBlock {
  std::string name;  // "embedding", or "<optimizer>/<slot>"
  int64_t width = 0;
};

// What a checkpoint must match to be loaded into a table.
struct CheckpointSchema {
  KeyType key_dtype = KeyType::kInt64;
  int64_t dim = 0;
  // blocks[0] is the embedding (width dim); the widths sum to the row width.
  std::vector<CheckpointBlock> blocks;
};

struct CheckpointSaveOptions {
  int64_t global_step = -1;  // -1: unknown
  int64_t batch = 1 << 16;   // keys per export batch
  // A delta of these changes (Table::TakeChanges since the previous save) on
  // top of `chain` (non-empty, full first); null: a full checkpoint.
  const Table::Changes* delta = nullptr;
  std::vector<std::string> chain;
};

// What a save wrote or a load read.
struct CheckpointSummary {
  int64_t rows = 0;
  int64_t admission_records = 0;
  int64_t tombstones = 0;
  int64_t bytes = 0;  // data files
  // Load only: admission records in the checkpoint that the table (without
  // admission) did not take.
  int64_t admission_dropped = 0;
};

// Formats of the files this version writes and reads.
constexpr const char* kCheckpointFormat = "mx_rec.table_checkpoint";
constexpr int kCheckpointFormatVersion = 1;

// Writes a full checkpoint of `table` (rows seen through `rows`, whose blocks
// `schema` names) into directory `dir`, which must not exist. Its parent is
// created if needed. InvalidArgument for a schema that does not describe
// `rows`; AlreadyExists for an existing `dir`; Internal (naming the file) on
// an I/O error, after which no `dir` exists.
Status SaveTableCheckpoint(const Table& table, const DeviceRows& rows,
                           const CheckpointSchema& schema, const CheckpointSaveOptions& options,
                           const std::string& dir, CheckpointSummary* summary);

// Loads checkpoint `dir` (with its chain, for a delta) into `table` (empty,
// no open step) and `rows`, whose blocks `schema` names. Blocks are matched
// by name, so their order may differ, and checkpoint blocks the table lacks
// are skipped (an evaluation graph has no optimizer state). NotFound when
// `dir` or a file is missing; DataLoss (naming the file) for a malformed
// manifest, a wrong size or checksum; InvalidArgument (naming the table and
// both values) when the key dtype or dim differ, or a block of the table is
// missing or of another width; errors of Table::Import (e.g. the keys do not
// fit the tiers).
Status LoadTableCheckpoint(const std::string& dir, const CheckpointSchema& schema, Table* table,
                           DeviceRows* rows, CheckpointSummary* summary);

}  // namespace asc
