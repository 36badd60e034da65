#include "table_resource.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "asc/table_registry.h"
#include "status_util.h"
#include "tensorflow/core/platform/logging.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

// ---- TableResource ------------------------------------------------------------

std::string TableResource::DebugString() const { return "mx_rec table " + options_.name; }

Status TableResource::CreateLocked() {
  std::unique_ptr<asc::Table> table;
  TF_RETURN_IF_ERROR(ToTfStatus(asc::Table::Create(options_, &table)));
  if (admission_.has_value()) TF_RETURN_IF_ERROR(ToTfStatus(table->ConfigureAdmission(*admission_)));
  core_ = std::move(table);
  asc::TableRegistry::Global().Add(core_);
  return OkStatus();
}

Status TableResource::Core(std::shared_ptr<asc::Table>* out) {
  mutex_lock lock(mu_);
  if (core_ == nullptr) TF_RETURN_IF_ERROR(CreateLocked());
  *out = core_;
  return OkStatus();
}

std::shared_ptr<asc::Table> TableResource::CoreIfCreated() {
  mutex_lock lock(mu_);
  return core_;
}

Status TableResource::Reset() {
  std::shared_ptr<asc::Table> old;  // destroyed outside the lock
  mutex_lock lock(mu_);
  old = std::move(core_);
  save_chain_ = SaveChain();
  return CreateLocked();
}

TableResource::SaveChain TableResource::save_chain() {
  mutex_lock lock(mu_);
  return save_chain_;
}

void TableResource::set_save_chain(SaveChain chain) {
  mutex_lock lock(mu_);
  save_chain_ = std::move(chain);
}

Status TableResource::Attach(const std::vector<StateBlock>& blocks) {
  std::shared_ptr<asc::Table> core;
  mutex_lock lock(mu_);
  std::vector<StateBlock> added;
  for (const StateBlock& block : blocks) {
    const bool known = std::any_of(states_->begin(), states_->end(), [&](const StateBlock& s) {
      return s.handle.container() == block.handle.container() &&
             s.handle.name() == block.handle.name();
    });
    if (!known) added.push_back(block);
  }
  if (added.empty()) return OkStatus();
  if (core_ != nullptr && options_.ddr_mode()) {
    const asc::TableStats stats = core_->stats();
    if (stats.host_keys + stats.ssd_keys > 0) {
      return errors::FailedPrecondition(
          "hash optimizer state '", added.front().name, "' cannot join table '", options_.name,
          "': the table already keeps ", stats.host_keys + stats.ssd_keys,
          " rows off the device without it. Create every hash optimizer that trains a table "
          "with a host tier before the table's first training step");
    }
  }
  auto grown = std::make_shared<std::vector<StateBlock>>(*states_);
  grown->insert(grown->end(), added.begin(), added.end());
  states_ = std::move(grown);
  return OkStatus();
}

std::shared_ptr<const std::vector<StateBlock>> TableResource::states() {
  mutex_lock lock(mu_);
  return states_;
}

Status TableResource::ConfigureAdmission(const asc::AdmissionOptions& options) {
  mutex_lock lock(mu_);
  if (admission_.has_value() && *admission_ == options) return OkStatus();
  if (core_ != nullptr) TF_RETURN_IF_ERROR(ToTfStatus(core_->ConfigureAdmission(options)));
  admission_ = options;
  return OkStatus();
}

void TableResource::NoteStepEnd(bool committed) {
  if (committed) {
    uncommitted_streak_ = 0;
    return;
  }
  if (++uncommitted_streak_ >= kWarnUncommitted && !warned_.exchange(true)) {
    // ERROR, not WARNING: the table silently trains nothing, and scripts
    // commonly hide warnings (TF_CPP_MIN_LOG_LEVEL=2).
    LOG(ERROR) << "mx_rec table '" << options_.name << "': " << kWarnUncommitted
                 << " training steps in a row ended without a hash optimizer update of the "
                    "table (AscCommitStep), so the keys they inserted were taken back. Train "
                    "the table with an mx_rec hash optimizer (mx_rec.optimizers), or look it "
                    "up with is_train=False. (Steps that failed count too.)";
  }
}

Status ReadAdmission(OpKernelConstruction* ctx, asc::AdmissionOptions* out, bool* enabled) {
  int64_t access = 0, eviction = 0;
  TF_RETURN_IF_ERROR(ctx->GetAttr("access_threshold", &access));
  TF_RETURN_IF_ERROR(ctx->GetAttr("eviction_threshold", &eviction));
  *enabled = access > 0;
  out->access_threshold = access;
  out->eviction_threshold = eviction;
  return *enabled ? ToTfStatus(out->Validate()) : OkStatus();
}

Status AttachStates(OpKernelContext* ctx, TableResource* table, int first,
                    const std::vector<std::string>& names, const std::vector<float>& initial_values) {
  std::vector<StateBlock> blocks;
  for (size_t i = 0; i < names.size(); ++i) {
    blocks.push_back({HandleFromInput(ctx, first + static_cast<int>(i)), initial_values[i], names[i]});
  }
  TF_RETURN_IF_ERROR(table->Attach(blocks));
  if (!table->options().dynamic_expansion) return OkStatus();
  // A state variable that joins a grown table grows to its rows now, so the
  // optimizer sees the variable and its state of one shape.
  std::unique_ptr<VariableRows> rows;
  TF_RETURN_IF_ERROR(
      VariableRows::Make(ctx, HandleFromInput(ctx, 1), *table->states(), table->options().dim, &rows));
  std::shared_ptr<asc::Table> core;
  TF_RETURN_IF_ERROR(table->Core(&core));
  return ToTfStatus(rows->Grow(core->capacity()));
}

Status GetTable(OpKernelContext* ctx, int index, core::RefCountPtr<TableResource>* out) {
  const Status s = LookupResource(ctx, HandleFromInput(ctx, index), out);
  if (!s.ok()) {
    return errors::FailedPrecondition("mx_rec table resource not found (", std::string(s.message()),
                                      "): run the table's handle op in this session");
  }
  return OkStatus();
}

Status FindStep(OpKernelContext* ctx, TableResource* table, const std::shared_ptr<asc::Table>& core,
                bool create, StepHold** out) {
  *out = nullptr;
  ScopedStepContainer* steps = ctx->step_container();
  if (steps == nullptr) {
    return errors::FailedPrecondition(
        "table '", core->name(),
        "': mx_rec training lookups run inside a session step (tf.compat.v1 graph mode)");
  }
  const std::string name = "asc_step_" + std::to_string(reinterpret_cast<uintptr_t>(core.get()));
  if (!create) {
    const Status s = steps->Lookup<StepHold>(ctx->resource_manager(), name, out);
    if (errors::IsNotFound(s)) {
      *out = nullptr;
      return OkStatus();
    }
    return s;
  }
  return steps->LookupOrCreate<StepHold>(ctx->resource_manager(), name, out,
                                         [table, &core](StepHold** hold) {
                                           *hold = new StepHold(table, core);
                                           return OkStatus();
                                         });
}

// ---- VariableRows -------------------------------------------------------------

namespace {

asc::Status ToAsc(const Status& s) {
  if (s.ok()) return asc::Status::OK();
  if (errors::IsFailedPrecondition(s)) return asc::Status::FailedPrecondition(std::string(s.message()));
  if (errors::IsInvalidArgument(s)) return asc::Status::InvalidArgument(std::string(s.message()));
  if (errors::IsResourceExhausted(s)) return asc::Status::ResourceExhausted(std::string(s.message()));
  return asc::Status::Internal(std::string(s.message()));
}

}  // namespace

Status VariableRows::Make(OpKernelContext* ctx, const ResourceHandle& embedding,
                          const std::vector<StateBlock>& states, int64_t dim,
                          std::unique_ptr<VariableRows>* out) {
  std::unique_ptr<VariableRows> rows(new VariableRows(ctx, dim));
  auto add = [&](const ResourceHandle& handle, float fill, const std::string& name) -> Status {
    core::RefCountPtr<Var> var;
    const Status s = LookupResource(ctx, handle, &var);
    if (!s.ok()) {
      return errors::FailedPrecondition(
          "variable '", name,
          "' of an mx_rec table is not initialized in this session (it does not exist yet): run "
          "the global variables initializer (or restore a checkpoint) before the first step");
    }
    rows->vars_.push_back(std::move(var));
    rows->fill_.push_back(fill);
    rows->names_.push_back(name);
    return OkStatus();
  };
  TF_RETURN_IF_ERROR(add(embedding, 0.0f, embedding.name()));
  for (const StateBlock& s : states) TF_RETURN_IF_ERROR(add(s.handle, s.initial_value, s.name));
  rows->lock_order_.resize(rows->vars_.size());
  std::iota(rows->lock_order_.begin(), rows->lock_order_.end(), size_t{0});
  std::sort(rows->lock_order_.begin(), rows->lock_order_.end(), [&](size_t a, size_t b) {
    return rows->vars_[a]->mu() < rows->vars_[b]->mu();
  });
  *out = std::move(rows);
  return OkStatus();
}

asc::Status VariableRows::CheckVar(size_t block, int64_t rows) const {
  Var* var = vars_[block].get();
  if (!var->is_initialized) {
    return asc::Status::FailedPrecondition(
        "variable '" + names_[block] +
        "' of an mx_rec table is not initialized in this session: run the global variables "
        "initializer (or restore a checkpoint) before the first step");
  }
  const Tensor* t = var->tensor();
  if (t->dtype() != DT_FLOAT || t->dims() != 2 || t->dim_size(1) != dim_ || t->dim_size(0) < rows) {
    return asc::Status::FailedPrecondition(
        "variable '" + names_[block] + "' must be a float32 matrix of at least [" +
        std::to_string(rows) + ", " + std::to_string(dim_) + "], got " +
        DataTypeString(t->dtype()) + " " + t->shape().DebugString());
  }
  return asc::Status::OK();
}

asc::Status VariableRows::Check(int64_t rows) const {
  for (size_t b = 0; b < vars_.size(); ++b) {
    tf_shared_lock lock(*vars_[b]->mu());
    ASC_RETURN_IF_ERROR(CheckVar(b, rows));
  }
  return asc::Status::OK();
}

asc::Status VariableRows::PrepareWrite(size_t block) {
  Var* var = vars_[block].get();
  if (!var->tensor()->RefCountIsOne()) {
    // A reader still holds the buffer (a dense read without copy-on-read):
    // write into a private copy instead, as TF's sparse updates do.
    Tensor copy;
    const Status s = ctx_->allocate_temp(DT_FLOAT, var->tensor()->shape(), &copy);
    if (!s.ok()) return ToAsc(s);
    std::memcpy(copy.flat<float>().data(), var->tensor()->flat<float>().data(),
                sizeof(float) * var->tensor()->NumElements());
    *var->tensor() = copy;
  }
  var->copy_on_read_mode.store(true);
  return asc::Status::OK();
}

asc::Status VariableRows::CheckSlots(size_t block, int64_t n, const int64_t* slots) const {
  const int64_t rows = vars_[block]->tensor()->dim_size(0);
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] < 0 || slots[i] >= rows) {
      return asc::Status::Internal("slot " + std::to_string(slots[i]) + " is outside variable '" +
                                   names_[block] + "' of " + std::to_string(rows) + " rows");
    }
  }
  return asc::Status::OK();
}

asc::Status VariableRows::Grow(int64_t rows) {
  // All blocks change shape under all their locks at once: an optimizer that
  // locks the variable and its state together never sees them differ.
  std::vector<mutex_lock> locks;
  locks.reserve(vars_.size());
  for (size_t b : lock_order_) locks.emplace_back(*vars_[b]->mu());
  for (size_t b = 0; b < vars_.size(); ++b) {
    Var* var = vars_[b].get();
    if (!var->is_initialized) return CheckVar(b, rows);
    ASC_RETURN_IF_ERROR(CheckVar(b, 0));
  }
  for (size_t b = 0; b < vars_.size(); ++b) {
    Var* var = vars_[b].get();
    const int64_t have = var->tensor()->dim_size(0);
    if (have >= rows) continue;
    Tensor grown;
    const Status s = ctx_->allocate_temp(DT_FLOAT, TensorShape({rows, dim_}), &grown);
    if (!s.ok()) return ToAsc(s);
    float* dst = grown.flat<float>().data();
    std::memcpy(dst, var->tensor()->flat<float>().data(), sizeof(float) * have * dim_);
    std::fill(dst + have * dim_, dst + rows * dim_, fill_[b]);
    *var->tensor() = grown;
    var->copy_on_read_mode.store(true);
  }
  return asc::Status::OK();
}

asc::Status VariableRows::Gather(int64_t n, const int64_t* slots, float* out) const {
  const int64_t w = width();
  for (size_t b = 0; b < vars_.size(); ++b) {
    tf_shared_lock lock(*vars_[b]->mu());
    ASC_RETURN_IF_ERROR(CheckVar(b, 0));
    ASC_RETURN_IF_ERROR(CheckSlots(b, n, slots));
    const float* src = vars_[b]->tensor()->flat<float>().data();
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(out + i * w + static_cast<int64_t>(b) * dim_, src + slots[i] * dim_,
                  sizeof(float) * dim_);
    }
  }
  return asc::Status::OK();
}

asc::Status VariableRows::Write(int64_t n, const int64_t* slots, const float* rows,
                                const float* embedding) {
  if (n == 0) return asc::Status::OK();
  const int64_t w = width();
  for (size_t b = 0; b < vars_.size(); ++b) {
    mutex_lock lock(*vars_[b]->mu());
    ASC_RETURN_IF_ERROR(CheckVar(b, 0));
    ASC_RETURN_IF_ERROR(CheckSlots(b, n, slots));
    ASC_RETURN_IF_ERROR(PrepareWrite(b));
    float* dst = vars_[b]->tensor()->flat<float>().data();
    for (int64_t i = 0; i < n; ++i) {
      float* row = dst + slots[i] * dim_;
      if (embedding == nullptr) {
        std::memcpy(row, rows + i * w + static_cast<int64_t>(b) * dim_, sizeof(float) * dim_);
      } else if (b == 0) {
        std::memcpy(row, embedding + i * dim_, sizeof(float) * dim_);
      } else {
        std::fill(row, row + dim_, fill_[b]);
      }
    }
  }
  return asc::Status::OK();
}

asc::Status VariableRows::Scatter(int64_t n, const int64_t* slots, const float* rows) {
  return Write(n, slots, rows, nullptr);
}

asc::Status VariableRows::Initialize(int64_t n, const int64_t* slots, const float* embedding) {
  return Write(n, slots, nullptr, embedding);
}

asc::Status VariableRows::ReadEmbedding(int64_t n, const int64_t* slots, float* out) const {
  if (n == 0) return asc::Status::OK();
  tf_shared_lock lock(*vars_[0]->mu());
  ASC_RETURN_IF_ERROR(CheckVar(0, 0));
  ASC_RETURN_IF_ERROR(CheckSlots(0, n, slots));
  const float* src = vars_[0]->tensor()->flat<float>().data();
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out + i * dim_, src + slots[i] * dim_, sizeof(float) * dim_);
  }
  return asc::Status::OK();
}

}  // namespace asc_tf
