#include "ha_sync/op_record.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace ha_sync {

const char* ToString(OpKind kind) {
  switch (kind) {
    case OpKind::kCreate: return "create";
    case OpKind::kUpdate: return "update";
    case OpKind::kDelete: return "delete";
  }
  return "?";
}

const char* ToString(OpStatus status) {
  return status == OpStatus::kSuccess ? "success" : "fail";
}

const char* ToString(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kSuccess: return "success";
    case RunStatus::kPartialFailure: return "partial_failure";
    case RunStatus::kFailed: return "failed";
  }
  return "?";
}

bool ParseOpKind(const std::string& text, OpKind* out) {
  for (OpKind k : {OpKind::kCreate, OpKind::kUpdate, OpKind::kDelete}) {
    if (text == ToString(k)) { *out = k; return true; }
  }
  return false;
}

bool ParseOpStatus(const std::string& text, OpStatus* out) {
  for (OpStatus s : {OpStatus::kSuccess, OpStatus::kFail}) {
    if (text == ToString(s)) { *out = s; return true; }
  }
  return false;
}

bool ParseRunStatus(const std::string& text, RunStatus* out) {
  for (RunStatus s : {RunStatus::kRunning, RunStatus::kSuccess, RunStatus::kPartialFailure,
                      RunStatus::kFailed}) {
    if (text == ToString(s)) { *out = s; return true; }
  }
  return false;
}

void RunCounts::Add(const OpRecord& op) {
  if (op.status == OpStatus::kFail) {
    ++failed;
  } else {
    switch (op.operation) {
      case OpKind::kCreate: ++created; break;
      case OpKind::kUpdate: ++updated; break;
      case OpKind::kDelete: ++deleted; break;
    }
  }
  bytes_transferred += op.bytes_transferred;
}

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace ha_sync
