// Errors as values. A Status is either ok or carries a message that already
// names the operation, the path and the errno text ("open 'a/b': Permission
// denied"), so callers pass it upward without adding context twice.
//
// Thread-safety: a Status is a plain value; distinct objects may be used from
// different threads freely.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace ha_sync {

class Status {
 public:
  Status() = default;  // ok

  static Status Ok() { return Status(); }
  // The one place errno becomes text: "<op> '<path>': <strerror(err)>".
  // The path is escaped for display (names are bytes and may hold newlines).
  static Status FromErrno(int err, std::string_view op, std::string_view path);
  static Status Error(std::string message, int err = 0) {
    Status s;
    s.failed_ = true;
    s.errno_ = err;
    s.message_ = std::move(message);
    return s;
  }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  // errno behind the failure, 0 when the failure did not come from a syscall.
  int err() const { return errno_; }
  const std::string& message() const { return message_; }

 private:
  bool failed_ = false;
  int errno_ = 0;
  std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T& operator*() { return value_; }
  T* operator->() { return &value_; }

 private:
  T value_{};
  Status status_;
};

}  // namespace ha_sync
