// Checkpoint ops of a table (mx_rec/checkpoint/saveable.py puts them into a
// tf.compat.v1.train.Saver's save and restore ops):
//
//   AscTableSave     writes the table's checkpoint directory
//                    "<prefix>.mx_rec/<entry>" (asc/table_checkpoint.h) and
//                    returns `entry`, which the Saver stores in the TF
//                    checkpoint: the TF checkpoint names the one directory
//                    that belongs to it.
//   AscTableRestore  empties the table and loads "<prefix>.mx_rec/<entry>";
//                    on any error the table is left empty and the error
//                    names the table and the file.
// Both first attach the graph's optimizer-state variables (as
// AscAttachState), so a fresh session restores the state of every hash
// optimizer before its first step.
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "asc/table.h"
#include "asc/table_checkpoint.h"
#include "status_util.h"
#include "table_resource.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/logging.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

namespace {

// A chain holds at most this many deltas: then a full checkpoint is due
// whatever the time (a restore loads the whole chain).
constexpr size_t kMaxDeltas = 64;

// The blocks of a row as the resource attached them (embedding first).
asc::CheckpointSchema SchemaOf(TableResource* table) {
  asc::CheckpointSchema schema;
  schema.key_dtype = table->options().key_dtype;
  schema.dim = table->options().dim;
  schema.blocks.push_back({"embedding", schema.dim});
  for (const StateBlock& s : *table->states()) schema.blocks.push_back({s.name, schema.dim});
  return schema;
}

// A directory name for one save of table `name`: the name with characters
// outside [A-Za-z0-9_.-] replaced, "@", 16 random hex digits.
std::string NewEntry(const std::string& name) {
  std::string entry;
  for (char c : name) entry += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                c == '.' || c == '-') ? c : '_';
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char id[17];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(rng()));
  return entry + "@" + id;
}

Status ReadStateAttrs(OpKernelConstruction* ctx, std::vector<std::string>* names,
                      std::vector<float>* initial_values) {
  int n = 0;
  TF_RETURN_IF_ERROR(ctx->GetAttr("N", &n));
  TF_RETURN_IF_ERROR(ctx->GetAttr("state_names", names));
  TF_RETURN_IF_ERROR(ctx->GetAttr("initial_values", initial_values));
  if (names->size() != static_cast<size_t>(n) || initial_values->size() != names->size()) {
    return errors::InvalidArgument("one name and initial value per state variable");
  }
  return OkStatus();
}

}  // namespace

REGISTER_OP("AscTableSave")
    .Input("table: resource")
    .Input("embedding: resource")
    .Input("states: N * resource")
    .Input("prefix: string")
    .Input("global_step: int64")
    .Output("entry: string")
    .Attr("N: int >= 0")
    .Attr("initial_values: list(float)")
    .Attr("state_names: list(string)")
    .Attr("incremental: bool = false")
    .Attr("full_every_secs: int >= 0 = 0")
    .SetIsStateful()
    .SetShapeFn(shape_inference::ScalarShape)
    .Doc(R"doc(
Writes the table (keys, rows and optimizer state from every tier, admission
records, clocks) into the new directory "<prefix>.mx_rec/<entry>" and returns
entry. global_step < 0: unknown. With `incremental`, a save writes a delta of
what changed since this session's previous save of the table (in the same
directory) unless none exists, the last full one is older than
full_every_secs (0: never) or 64 deltas build on it.
)doc");

class AscTableSaveOp : public OpKernel {
 public:
  explicit AscTableSaveOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadStateAttrs(ctx, &names_, &initial_values_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("incremental", &incremental_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("full_every_secs", &full_every_secs_));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    const int n = static_cast<int>(names_.size());
    const std::string prefix = ctx->input(2 + n).scalar<tstring>()();
    OP_REQUIRES(ctx, !prefix.empty(), errors::InvalidArgument("checkpoint prefix is empty"));
    OP_REQUIRES_OK(ctx, AttachStates(ctx, table.get(), 2, names_, initial_values_));
    std::shared_ptr<asc::Table> core;
    OP_REQUIRES_OK(ctx, table->Core(&core));
    std::unique_ptr<VariableRows> rows;
    OP_REQUIRES_OK(ctx, VariableRows::Make(ctx, HandleFromInput(ctx, 1), *table->states(),
                                           table->options().dim, &rows));
    asc::CheckpointSaveOptions options;
    options.global_step = ctx->input(3 + n).scalar<int64_t>()();
    const std::string entry = NewEntry(core->name());
    const size_t slash = prefix.find_last_of('/');
    const std::string root = slash == std::string::npos ? "." : prefix.substr(0, slash);
    const std::string relative = prefix.substr(slash + 1) + ".mx_rec/" + entry;
    const std::string dir = root + "/" + relative;
    // Full or delta; tracking starts with the first save of the table.
    TableResource::SaveChain chain = table->save_chain();
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    const bool delta = incremental_ && !chain.chain.empty() && chain.root == root &&
                       chain.chain.size() <= kMaxDeltas &&
                       (full_every_secs_ == 0 || now - chain.full_unix < full_every_secs_);
    asc::Table::Changes changes;
    if (incremental_) changes = core->TakeChanges();
    if (delta) {
      options.delta = &changes;
      options.chain = chain.chain;
    }
    asc::CheckpointSummary summary;
    const asc::Status s =
        asc::SaveTableCheckpoint(*core, *rows, SchemaOf(table.get()), options, dir, &summary);
    if (!s.ok()) {
      if (incremental_) core->ReturnChanges(changes);
      ctx->SetStatus(errors::CreateWithUpdatedMessage(
          ToTfStatus(s), "saving table '" + core->name() + "': " + s.message()));
      return;
    }
    if (incremental_) {
      TableResource::SaveChain next;
      next.root = root;
      next.chain = delta ? chain.chain : std::vector<std::string>();
      next.chain.push_back(relative);
      next.full_unix = delta ? chain.full_unix : now;
      table->set_save_chain(std::move(next));
    }
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<tstring>()() = entry;
  }

 private:
  std::vector<std::string> names_;
  std::vector<float> initial_values_;
  bool incremental_ = false;
  int64_t full_every_secs_ = 0;
};

REGISTER_KERNEL_BUILDER(Name("AscTableSave").Device(DEVICE_CPU), AscTableSaveOp);

REGISTER_OP("AscTableRestore")
    .Input("table: resource")
    .Input("embedding: resource")
    .Input("states: N * resource")
    .Input("prefix: string")
    .Input("entry: string")
    .Attr("N: int >= 0")
    .Attr("initial_values: list(float)")
    .Attr("state_names: list(string)")
    .Attr("access_threshold: int >= 0 = 0")
    .Attr("eviction_threshold: int >= 0 = 0")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs)
    .Doc(R"doc(
Empties the table and loads "<prefix>.mx_rec/<entry>" into it (rows placed
hottest first into the device tier, then host, then SSD). The variables must
be initialised. On error the table is left empty.
)doc");

class AscTableRestoreOp : public OpKernel {
 public:
  explicit AscTableRestoreOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadStateAttrs(ctx, &names_, &initial_values_));
    OP_REQUIRES_OK(ctx, ReadAdmission(ctx, &admission_, &has_admission_));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    const int n = static_cast<int>(names_.size());
    const std::string prefix = ctx->input(2 + n).scalar<tstring>()();
    const std::string entry = ctx->input(3 + n).scalar<tstring>()();
    const std::string name = table->options().name;
    OP_REQUIRES(ctx, !entry.empty() && entry.find('/') == std::string::npos,
                errors::DataLoss("restoring table '", name, "': the checkpoint names no valid ",
                                 "table directory ('", entry, "')"));
    const std::string dir = prefix + ".mx_rec/" + entry;
    if (has_admission_) OP_REQUIRES_OK(ctx, table->ConfigureAdmission(admission_));
    OP_REQUIRES_OK(ctx, AttachStates(ctx, table.get(), 2, names_, initial_values_));
    OP_REQUIRES_OK(ctx, table->Reset());
    std::shared_ptr<asc::Table> core;
    OP_REQUIRES_OK(ctx, table->Core(&core));
    std::unique_ptr<VariableRows> rows;
    OP_REQUIRES_OK(ctx, VariableRows::Make(ctx, HandleFromInput(ctx, 1), *table->states(),
                                           table->options().dim, &rows));
    asc::CheckpointSummary summary;
    const asc::Status s =
        asc::LoadTableCheckpoint(dir, SchemaOf(table.get()), core.get(), rows.get(), &summary);
    if (!s.ok()) {
      table->Reset().IgnoreError();  // never a partial table
      ctx->SetStatus(errors::CreateWithUpdatedMessage(
          ToTfStatus(s), "restoring table '" + name + "': " + s.message()));
      return;
    }
    if (summary.admission_dropped > 0) {
      LOG(WARNING) << "mx_rec: table '" << name << "': the checkpoint holds "
                   << summary.admission_dropped
                   << " admission records, but the table has no admission (access_threshold) "
                      "in this graph; they were not restored";
    }
  }

 private:
  std::vector<std::string> names_;
  std::vector<float> initial_values_;
  asc::AdmissionOptions admission_;
  bool has_admission_ = false;
};

REGISTER_KERNEL_BUILDER(Name("AscTableRestore").Device(DEVICE_CPU), AscTableRestoreOp);

}  // namespace asc_tf
