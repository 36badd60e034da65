// TableRegistry: the process-wide set of tables, by name.
//
// It lives in libasc.so, which is loaded once per process; the TF op library
// and the _libasc Python module both link that one library and therefore see
// the same registry.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "asc/status.h"
#include "asc/table.h"

namespace asc {

class TableRegistry {
 public:
  static TableRegistry& Global();

  // Creates a table; AlreadyExists if the name is taken (the existing table
  // is untouched), InvalidArgument for bad options.
  Status Create(const TableOptions& options, std::shared_ptr<Table>* out);

  // The named table, or nullptr. Callers holding the pointer keep the table
  // alive, but a dropped table is no longer reachable by name.
  std::shared_ptr<Table> Get(const std::string& name) const;

  // Removes the named table; NotFound if absent.
  Status Drop(const std::string& name);

  // Removes every table.
  void Clear();

  std::vector<std::string> Names() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Table>> tables_;
};

}  // namespace asc
