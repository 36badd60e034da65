// Status: the error value every fallible libasc call returns.
//
// libasc never throws across its public API and never logs-and-continues:
// a failure travels up as a Status and is translated once at the edges
// (OP_REQUIRES_OK in the TF kernels, a Python exception in the binding).
#pragma once

#include <string>
#include <utility>

namespace asc {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // caller passed a value outside the documented range
  kNotFound,            // named object does not exist
  kAlreadyExists,       // named object exists already
  kResourceExhausted,   // a tier is full and may not grow
  kFailedPrecondition,  // object is in the wrong state (e.g. dropped)
  kInternal,            // a bug or an I/O failure below us
  kDataLoss,            // stored data is corrupt or truncated
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Returns early from the enclosing function when `expr` is not OK.
#define ASC_RETURN_IF_ERROR(expr)            \
  do {                                       \
    ::asc::Status _asc_status = (expr);      \
    if (!_asc_status.ok()) return _asc_status; \
  } while (0)

}  // namespace asc
