#include "asc/table_registry.h"

#include <algorithm>

namespace asc {

TableRegistry& TableRegistry::Global() {
  // Leaked on purpose: TF kernels and Python finalizers may still reach the
  // registry while static destructors run at exit, in an order we cannot set.
  static TableRegistry* registry = new TableRegistry;
  return *registry;
}

void TableRegistry::Add(const std::shared_ptr<Table>& table) {
  std::lock_guard<std::mutex> lock(mu_);
  tables_.erase(std::remove_if(tables_.begin(), tables_.end(),
                               [](const std::weak_ptr<Table>& t) { return t.expired(); }),
                tables_.end());
  tables_.push_back(table);
}

std::vector<std::shared_ptr<Table>> TableRegistry::Live() const {
  std::vector<std::shared_ptr<Table>> live;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::weak_ptr<Table>& t : tables_) {
    if (std::shared_ptr<Table> table = t.lock()) live.push_back(std::move(table));
  }
  return live;
}

std::vector<std::shared_ptr<Table>> TableRegistry::Live(const std::string& name) const {
  std::vector<std::shared_ptr<Table>> live = Live();
  live.erase(std::remove_if(live.begin(), live.end(),
                            [&](const std::shared_ptr<Table>& t) { return t->name() != name; }),
             live.end());
  return live;
}

}  // namespace asc
