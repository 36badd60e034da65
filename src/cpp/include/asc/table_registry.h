// TableRegistry: the process-wide index of live tables, for introspection.
//
// Tables are owned by whoever created them (TensorFlow: the session's
// resource manager, so every session has its own); nothing finds a table
// to use by name. The registry only remembers, without owning them, which
// tables are alive, so the _libasc binding (a separate module in the same
// process) can list them and tests can reach a table that a TF kernel made:
// libasc.so is loaded once per process, and both the TF op library and the
// binding link it.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "asc/table.h"

namespace asc {

class TableRegistry {
 public:
  static TableRegistry& Global();

  // Remembers `table` while it lives (a weak reference).
  void Add(const std::shared_ptr<Table>& table);

  // The live tables, in the order they were added; optionally only those
  // named `name`.
  std::vector<std::shared_ptr<Table>> Live() const;
  std::vector<std::shared_ptr<Table>> Live(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  mutable std::vector<std::weak_ptr<Table>> tables_;  // expired entries pruned on access
};

}  // namespace asc
