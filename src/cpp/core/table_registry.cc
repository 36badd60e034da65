#include "asc/table_registry.h"

#include <algorithm>

namespace asc {

TableRegistry& TableRegistry::Global() {
  // Leaked on purpose: TF kernels and Python finalizers may still reach the
  // registry while static destructors run at exit, in an order we cannot set.
  static TableRegistry* registry = new TableRegistry;
  return *registry;
}

Status TableRegistry::Create(const TableOptions& options, std::shared_ptr<Table>* out) {
  std::unique_ptr<Table> table;
  ASC_RETURN_IF_ERROR(Table::Create(options, &table));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = tables_.try_emplace(options.name);
  if (!inserted) {
    return Status::AlreadyExists("table '" + options.name + "' already exists");
  }
  it->second = std::move(table);
  *out = it->second;
  return Status::OK();
}

std::shared_ptr<Table> TableRegistry::Get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : it->second;
}

Status TableRegistry::Drop(const std::string& name) {
  std::shared_ptr<Table> dropped;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tables_.find(name);
  if (it == tables_.end()) return Status::NotFound("table '" + name + "' does not exist");
  dropped = std::move(it->second);
  tables_.erase(it);
  return Status::OK();
}

void TableRegistry::Clear() {
  std::unordered_map<std::string, std::shared_ptr<Table>> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  dropped.swap(tables_);
}

std::vector<std::string> TableRegistry::Names() const {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    names.reserve(tables_.size());
    for (const auto& entry : tables_) names.push_back(entry.first);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace asc
