// The TensorFlow side of a table: a resource in the session's resource
// manager, a per-step hold in the step container, and DeviceRows over the
// table's variables.
//
//   TableResource  created by AscTableHandle (like a MutableHashTable), so
//                  every session owns its own table; AscTableReset (run by
//                  the table's variable initializer) replaces its libasc
//                  Table with an empty one. It also remembers the optimizer
//                  state variables that travel with the rows
//                  (AscAttachState) and the admission thresholds.
//   StepHold       one table's open libasc step within one session.run: made
//                  by the step's first training lookup in the step container,
//                  committed by AscCommitStep, and ended (EndStep) when TF
//                  cleans the step container up, whether the step succeeded
//                  or failed.
//   VariableRows   asc::DeviceRows over the embedding variable and the state
//                  variables, locking each per call (all of them, in address
//                  order, when they grow together).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "asc/admission.h"
#include "asc/device_rows.h"
#include "asc/table.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace asc_tf {

// An optimizer-state variable that travels with a table's rows.
struct StateBlock {
  tensorflow::ResourceHandle handle;
  float initial_value = 0.0f;
  std::string name;  // for messages: "<optimizer>/<slot>"
};

class TableResource : public tensorflow::ResourceBase {
 public:
  // options and their text (TableOptions::Serialize), kept to compare cheaply.
  TableResource(const asc::TableOptions& options, std::string text)
      : options_(options), text_(std::move(text)) {}

  std::string DebugString() const override;
  const asc::TableOptions& options() const { return options_; }
  const std::string& options_text() const { return text_; }

  // The libasc table, created on first use (registered for introspection).
  tensorflow::Status Core(std::shared_ptr<asc::Table>* out);
  // The libasc table if it exists, else nullptr.
  std::shared_ptr<asc::Table> CoreIfCreated();
  // Replaces the libasc table with an empty one (steps still open on the old
  // one finish on it).
  tensorflow::Status Reset();

  // Adds the blocks not attached yet (matched by variable). A new block on a
  // table that keeps rows off the device is FailedPrecondition naming it.
  tensorflow::Status Attach(const std::vector<StateBlock>& blocks);
  // The attached blocks: an immutable snapshot (Attach makes a new one), so
  // lookups take it without copying handles.
  std::shared_ptr<const std::vector<StateBlock>> states();

  // Admission thresholds of the table's lookups; applied to every libasc
  // table this resource makes. Different thresholds than before: error.
  tensorflow::Status ConfigureAdmission(const asc::AdmissionOptions& options);

  // Delta checkpoints: the chain of this table's last save (relative to
  // `root`, the directory holding the checkpoint prefixes; see
  // asc/table_checkpoint.h) and when its full checkpoint was written.
  // Empty until a save; Reset (a restore, a re-run initializer) empties it,
  // so the next save is full.
  struct SaveChain {
    std::string root;
    std::vector<std::string> chain;
    int64_t full_unix = 0;
  };
  SaveChain save_chain();
  void set_save_chain(SaveChain chain);

  // Called as each step with training lookups of the table ends. Logs an
  // error, once, after kWarnUncommitted steps in a row ended without a
  // commit: a table trained by no hash optimizer (its new keys are taken
  // back after every step), which no other signal would reveal.
  void NoteStepEnd(bool committed);
  static constexpr int kWarnUncommitted = 10;

 private:
  tensorflow::Status CreateLocked() TF_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const asc::TableOptions options_;
  const std::string text_;
  tensorflow::mutex mu_;
  std::shared_ptr<asc::Table> core_ TF_GUARDED_BY(mu_);
  std::shared_ptr<const std::vector<StateBlock>> states_ TF_GUARDED_BY(mu_) =
      std::make_shared<const std::vector<StateBlock>>();
  std::optional<asc::AdmissionOptions> admission_ TF_GUARDED_BY(mu_);
  SaveChain save_chain_ TF_GUARDED_BY(mu_);
  std::atomic<int> uncommitted_streak_{0};
  std::atomic<bool> warned_{false};
};

// The admission thresholds in the kernel's access_threshold /
// eviction_threshold attrs; *enabled is false when access_threshold is 0.
// Admission rides on the ops that need it (lookups, eviction), so a table is
// configured by whichever runs first in a session.
tensorflow::Status ReadAdmission(tensorflow::OpKernelConstruction* ctx,
                                 asc::AdmissionOptions* out, bool* enabled);

// Attaches the state variables of inputs [first, first + names.size()) to
// `table` (AscAttachState); on an expandable table a joining state variable
// grows to the table's rows. Input 1 is the embedding variable.
tensorflow::Status AttachStates(tensorflow::OpKernelContext* ctx, TableResource* table, int first,
                                const std::vector<std::string>& names,
                                const std::vector<float>& initial_values);

// Looks up the TableResource named by input `index` (a resource handle).
tensorflow::Status GetTable(tensorflow::OpKernelContext* ctx, int index,
                            tensorflow::core::RefCountPtr<TableResource>* out);

class StepHold : public tensorflow::ResourceBase {
 public:
  StepHold(TableResource* table, std::shared_ptr<asc::Table> core)
      : table_(table), core_(std::move(core)) {
    table_->Ref();
  }
  ~StepHold() override {
    if (begun_) {
      core_->EndStep(id_, committed_);
      table_->NoteStepEnd(committed_);
    }
    table_->Unref();
  }

  std::string DebugString() const override { return "asc step of table " + core_->name(); }
  // The libasc step, begun on first use. Not in the constructor: TF creates
  // resources under its resource manager's lock, and BeginStep takes the
  // table's, which a lookup holds while it reads variables.
  asc::Table::StepId id() {
    std::call_once(begin_, [this] {
      id_ = core_->BeginStep();
      begun_ = true;
    });
    return id_;
  }
  void Commit() { committed_ = true; }

 private:
  TableResource* const table_;
  const std::shared_ptr<asc::Table> core_;
  std::once_flag begin_;
  asc::Table::StepId id_ = 0;
  bool begun_ = false;
  std::atomic<bool> committed_{false};
};

// The open step of `core` (the libasc table of `table`) in this
// session.run, made when `create`. *out is null when it does not exist and
// !create. The caller unrefs.
tensorflow::Status FindStep(tensorflow::OpKernelContext* ctx, TableResource* table,
                            const std::shared_ptr<asc::Table>& core, bool create, StepHold** out);

class VariableRows : public asc::DeviceRows {
 public:
  // embedding: the table's [rows, dim] float variable; states: further
  // blocks, each a [rows, dim] float variable.
  static tensorflow::Status Make(tensorflow::OpKernelContext* ctx,
                                 const tensorflow::ResourceHandle& embedding,
                                 const std::vector<StateBlock>& states, int64_t dim,
                                 std::unique_ptr<VariableRows>* out);

  int64_t width() const override { return dim_ * static_cast<int64_t>(vars_.size()); }
  asc::Status Check(int64_t rows) const override;
  asc::Status Grow(int64_t rows) override;
  asc::Status Gather(int64_t n, const int64_t* slots, float* out) const override;
  asc::Status Scatter(int64_t n, const int64_t* slots, const float* rows) override;
  asc::Status Initialize(int64_t n, const int64_t* slots, const float* embedding) override;
  asc::Status ReadEmbedding(int64_t n, const int64_t* slots, float* out) const override;

 private:
  VariableRows(tensorflow::OpKernelContext* ctx, int64_t dim) : ctx_(ctx), dim_(dim) {}
  // The variable's tensor when it is initialised with >= rows rows of dim
  // floats; *message otherwise. Call with its mutex held.
  asc::Status CheckVar(size_t block, int64_t rows) const;
  // Makes block b's buffer private to the variable before an in-place write
  // (mutex held exclusively), as TF's own sparse updates do.
  asc::Status PrepareWrite(size_t block);
  asc::Status CheckSlots(size_t block, int64_t n, const int64_t* slots) const;
  // Writes full rows (or, with `embedding`, new-key rows) into the blocks.
  asc::Status Write(int64_t n, const int64_t* slots, const float* rows, const float* embedding);

  tensorflow::OpKernelContext* const ctx_;
  const int64_t dim_;
  std::vector<tensorflow::core::RefCountPtr<tensorflow::Var>> vars_;  // embedding first
  std::vector<float> fill_;                                           // per block
  std::vector<std::string> names_;                                    // per block, for messages
  std::vector<size_t> lock_order_;  // blocks by mutex address
};

}  // namespace asc_tf
