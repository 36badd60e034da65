// DeviceRows: the device tier's row storage, as its owner (TensorFlow) holds
// it, seen by a Table for the length of one call.
//
// libasc decides which key owns which device row ("slot"); the rows
// themselves live in the caller's variables: the embedding ([rows, dim])
// followed by one block per optimizer state. A full row is the concatenation
// of the blocks, width() floats. Table calls these methods while it holds its
// own lock, so a row never moves under a concurrent lookup; an
// implementation locks its storage per call.
//
// Every operation is batched. Check is the only call expected to fail: a
// Table calls it before changing anything, so that the calls after it can
// only fail if the storage is replaced under the Table (Internal).
#pragma once

#include <cstdint>

#include "asc/status.h"

namespace asc {

class DeviceRows {
 public:
  virtual ~DeviceRows() = default;

  // Floats per full row (embedding first). >= dim.
  virtual int64_t width() const = 0;

  // OK when the storage is ready for rows [0, rows): initialised, with the
  // expected widths. FailedPrecondition (naming the variable) otherwise.
  virtual Status Check(int64_t rows) const = 0;

  // Grows the storage to at least `rows` rows; new rows hold each block's
  // initial value. Never shrinks.
  virtual Status Grow(int64_t rows) = 0;

  // out[i * width(), (i+1) * width()) = the full row of slots[i].
  virtual Status Gather(int64_t n, const int64_t* slots, float* out) const = 0;

  // The full row of slots[i] = rows[i * width(), (i+1) * width()).
  virtual Status Scatter(int64_t n, const int64_t* slots, const float* rows) = 0;

  // The row of a new key: embedding block of slots[i] = embedding[i * dim,
  // (i+1) * dim), every other block its initial value.
  virtual Status Initialize(int64_t n, const int64_t* slots, const float* embedding) = 0;

  // out[i * dim, (i+1) * dim) = the embedding block of slots[i].
  virtual Status ReadEmbedding(int64_t n, const int64_t* slots, float* out) const = 0;
};

}  // namespace asc
