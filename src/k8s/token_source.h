// The bearer token, read from a file by path (never a kept fd: the kubelet
// swaps projected tokens atomically through a symlink) and trimmed of
// whitespace. The cached copy is re-read when it is older than `max_age`
// (60 s, like client-go) or after Invalidate() (we call it on a 401, then
// retry once). A failed re-read keeps the previous token, as client-go does;
// a failed first read is an error.
//
// Thread-safety: all members may be called from any thread.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::k8s {

class TokenSource {
 public:
  explicit TokenSource(std::string path, std::chrono::steady_clock::duration max_age = std::chrono::seconds(60));

  Result<std::string> Token();
  void Invalidate();
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const std::chrono::steady_clock::duration max_age_;
  std::mutex mu_;
  std::string token_;
  bool have_token_ = false;
  bool stale_ = false;
  std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace ha_sync::k8s
