// Table lifetime and maintenance ops. A table is a resource of the session
// that runs its handle op, like tf.lookup's MutableHashTable:
//
//   AscTableHandle   the table's resource handle; creates the resource
//   AscTableReset    empties the table (part of its variable's initializer)
//   AscAttachState   optimizer-state variables that move with the rows
//   AscCommitStep    end of a training step: keep what its lookups did
//   AscTableStats    counters; AscTableSnapshot keys and slots;
//   AscTableLocate   tier of keys; AscEvictStale FAAE eviction;
//   AscExportAdmission admission records
#include <memory>
#include <vector>

#include "asc/table.h"
#include "status_util.h"
#include "table_resource.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

REGISTER_OP("AscTableHandle")
    .Output("table: resource")
    .Attr("options: string")
    .Attr("container: string = ''")
    .Attr("shared_name: string = ''")
    .SetIsStateful()
    .SetShapeFn(shape_inference::ScalarShape)
    .Doc(R"doc(
The table's resource handle. Creates the table (empty) in this session's
resource manager on first run; `options` is asc::TableOptions::Serialize().
)doc");

class AscTableHandleOp : public OpKernel {
 public:
  explicit AscTableHandleOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("options", &text_));
    OP_REQUIRES_OK(ctx, ToTfStatus(asc::TableOptions::Parse(text_, &options_)));
    OP_REQUIRES_OK(ctx, ToTfStatus(options_.Validate()));
  }

  void Compute(OpKernelContext* ctx) override {
    ContainerInfo cinfo;
    OP_REQUIRES_OK(ctx, cinfo.Init(ctx->resource_manager(), def(), /*use_node_name_as_default=*/true));
    TableResource* table = nullptr;
    OP_REQUIRES_OK(ctx, cinfo.resource_manager()->LookupOrCreate<TableResource>(
                            cinfo.container(), cinfo.name(), &table, [this](TableResource** out) {
                              *out = new TableResource(options_, text_);
                              return OkStatus();
                            }));
    core::ScopedUnref unref(table);
    OP_REQUIRES(ctx, table->options_text() == text_,
                errors::AlreadyExists("another mx_rec table named '", cinfo.name(),
                                      "' with different options exists in this session"));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<ResourceHandle>()() =
        MakeResourceHandle<TableResource>(ctx, cinfo.container(), cinfo.name());
  }

 private:
  asc::TableOptions options_;
  std::string text_;  // the attr: options_ serialised
};

REGISTER_KERNEL_BUILDER(Name("AscTableHandle").Device(DEVICE_CPU), AscTableHandleOp);

REGISTER_OP("AscTableReset")
    .Input("table: resource")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs)
    .Doc("Empties the table: keys, host and SSD rows, admission records, hot set.");

class AscTableResetOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    OP_REQUIRES_OK(ctx, table->Reset());
  }
};

REGISTER_KERNEL_BUILDER(Name("AscTableReset").Device(DEVICE_CPU), AscTableResetOp);

REGISTER_OP("AscAttachState")
    .Input("table: resource")
    .Input("embedding: resource")
    .Input("states: N * resource")
    .Attr("N: int >= 0")
    .Attr("initial_values: list(float)")
    .Attr("state_names: list(string)")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs)
    .Doc(R"doc(
Makes the optimizer-state variables `states` travel with the table's rows
(and grow with its embedding variable). Idempotent; run by a hash optimizer
before it updates the table.
)doc");

class AscAttachStateOp : public OpKernel {
 public:
  explicit AscAttachStateOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("initial_values", &initial_values_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("state_names", &names_));
    int n = 0;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("N", &n));
    OP_REQUIRES(ctx, initial_values_.size() == static_cast<size_t>(n) && names_.size() == initial_values_.size(),
                errors::InvalidArgument("AscAttachState: one initial value and name per state"));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    OP_REQUIRES_OK(ctx, AttachStates(ctx, table.get(), 2, names_, initial_values_));
  }

 private:
  std::vector<float> initial_values_;
  std::vector<std::string> names_;
};

REGISTER_KERNEL_BUILDER(Name("AscAttachState").Device(DEVICE_CPU), AscAttachStateOp);

REGISTER_OP("AscCommitStep")
    .Input("tables: N * resource")
    .Attr("N: int >= 0")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs)
    .Doc(R"doc(
Keeps what this step's training lookups did to the tables (new keys,
admission counts). A step that ends without it (it failed, or ran no update)
takes them back. Run last in a train op.
)doc");

class AscCommitStepOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    for (int i = 0; i < ctx->num_inputs(); ++i) {
      core::RefCountPtr<TableResource> table;
      OP_REQUIRES_OK(ctx, GetTable(ctx, i, &table));
      std::shared_ptr<asc::Table> core = table->CoreIfCreated();
      if (core == nullptr) continue;
      StepHold* hold = nullptr;
      OP_REQUIRES_OK(ctx, FindStep(ctx, table.get(), core, /*create=*/false, &hold));
      if (hold == nullptr) continue;  // no training lookup of it in this step
      hold->Commit();
      hold->Unref();
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("AscCommitStep").Device(DEVICE_CPU), AscCommitStepOp);

REGISTER_OP("AscTableStats")
    .Input("table: resource")
    .Output("stats: int64")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Vector(asc::TableStats::kNumFields));
      return OkStatus();
    })
    .Doc("The table's counters, in the order of asc::TableStats::Fields().");

class AscTableStatsOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({asc::TableStats::kNumFields}), &out));
    std::shared_ptr<asc::Table> core = table->CoreIfCreated();
    const asc::TableStats stats = core != nullptr ? core->stats() : asc::TableStats();
    auto v = out->vec<int64_t>();
    int i = 0;
    for (const auto& field : stats.Fields()) v(i++) = field.second;
  }
};

REGISTER_KERNEL_BUILDER(Name("AscTableStats").Device(DEVICE_CPU), AscTableStatsOp);

REGISTER_OP("AscTableSnapshot")
    .Input("table: resource")
    .Output("keys: int64")
    .Output("slots: int64")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Vector(c->UnknownDim()));
      c->set_output(1, c->Vector(c->UnknownDim()));
      return OkStatus();
    })
    .Doc("Every key with a written row and its device slot (-1: host or SSD tier).");

class AscTableSnapshotOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    std::vector<int64_t> keys, slots;
    if (std::shared_ptr<asc::Table> core = table->CoreIfCreated()) core->Snapshot(&keys, &slots);
    for (int i = 0; i < 2; ++i) {
      const std::vector<int64_t>& v = i == 0 ? keys : slots;
      Tensor* out = nullptr;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(i, TensorShape({static_cast<int64_t>(v.size())}), &out));
      std::copy(v.begin(), v.end(), out->flat<int64_t>().data());
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("AscTableSnapshot").Device(DEVICE_CPU), AscTableSnapshotOp);

REGISTER_OP("AscTableLocate")
    .Input("table: resource")
    .Input("keys: int64")
    .Output("tier: int8")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(1));
      return OkStatus();
    })
    .Doc("Tier of each key: 0 device, 1 host, 2 SSD, -1 absent.");

class AscTableLocateOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    const Tensor& keys = ctx->input(1);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, keys.shape(), &out));
    int8_t* tier = out->flat<int8_t>().data();
    if (std::shared_ptr<asc::Table> core = table->CoreIfCreated()) {
      core->Locate(keys.NumElements(), keys.flat<int64_t>().data(), tier);
    } else {
      std::fill(tier, tier + keys.NumElements(), static_cast<int8_t>(asc::kTierAbsent));
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("AscTableLocate").Device(DEVICE_CPU), AscTableLocateOp);

REGISTER_OP("AscEvictStale")
    .Input("table: resource")
    .Output("evicted: int64")
    .Attr("access_threshold: int >= 1")
    .Attr("eviction_threshold: int >= 1")
    .SetIsStateful()
    .SetShapeFn(shape_inference::ScalarShape)
    .Doc("Removes every key not seen for more than eviction_threshold from every tier.");

class AscEvictStaleOp : public OpKernel {
 public:
  explicit AscEvictStaleOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    bool enabled = false;
    OP_REQUIRES_OK(ctx, ReadAdmission(ctx, &admission_, &enabled));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    OP_REQUIRES_OK(ctx, table->ConfigureAdmission(admission_));
    std::shared_ptr<asc::Table> core;
    OP_REQUIRES_OK(ctx, table->Core(&core));
    int64_t evicted = 0;
    OP_REQUIRES_OK(ctx, ToTfStatus(core->EvictStale(&evicted)));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<int64_t>()() = evicted;
  }

 private:
  asc::AdmissionOptions admission_;
};

REGISTER_KERNEL_BUILDER(Name("AscEvictStale").Device(DEVICE_CPU), AscEvictStaleOp);

REGISTER_OP("AscExportAdmission")
    .Input("table: resource")
    .Output("keys: int64")
    .Output("counts: int64")
    .Output("last_seen: int64")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      for (int i = 0; i < 3; ++i) c->set_output(i, c->Vector(c->UnknownDim()));
      return OkStatus();
    })
    .Doc("Every admission record: key, weighted count, last-seen time (empty without FAAE).");

class AscExportAdmissionOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    std::vector<int64_t> parts[3];
    std::shared_ptr<asc::Table> core = table->CoreIfCreated();
    if (core != nullptr && core->has_admission()) {
      OP_REQUIRES_OK(ctx, ToTfStatus(core->ExportAdmission(&parts[0], &parts[1], &parts[2])));
    }
    for (int i = 0; i < 3; ++i) {
      Tensor* out = nullptr;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(
                              i, TensorShape({static_cast<int64_t>(parts[i].size())}), &out));
      std::copy(parts[i].begin(), parts[i].end(), out->flat<int64_t>().data());
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("AscExportAdmission").Device(DEVICE_CPU), AscExportAdmissionOp);

}  // namespace asc_tf
