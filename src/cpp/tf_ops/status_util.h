// Translates libasc Status values into TensorFlow Status values, once, at the
// kernel edge.
#pragma once

#include "asc/status.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace asc_tf {

inline tensorflow::Status ToTfStatus(const asc::Status& s) {
  using asc::StatusCode;
  switch (s.code()) {
    case StatusCode::kOk: return tensorflow::OkStatus();
    case StatusCode::kInvalidArgument: return tensorflow::errors::InvalidArgument(s.message());
    case StatusCode::kNotFound: return tensorflow::errors::NotFound(s.message());
    case StatusCode::kAlreadyExists: return tensorflow::errors::AlreadyExists(s.message());
    case StatusCode::kResourceExhausted: return tensorflow::errors::ResourceExhausted(s.message());
    case StatusCode::kFailedPrecondition: return tensorflow::errors::FailedPrecondition(s.message());
    case StatusCode::kInternal: return tensorflow::errors::Internal(s.message());
    case StatusCode::kDataLoss: return tensorflow::errors::DataLoss(s.message());
  }
  return tensorflow::errors::Unknown(s.message());
}

}  // namespace asc_tf
