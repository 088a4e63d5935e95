#include "k8s/token_source.h"

#include "k8s/kube_config.h"

namespace ha_sync::k8s {

TokenSource::TokenSource(std::string path, std::chrono::steady_clock::duration max_age)
    : path_(std::move(path)), max_age_(max_age) {}

Result<std::string> TokenSource::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (have_token_ && !stale_ && now - read_at_ < max_age_) return token_;
  auto content = ReadSmallFile(path_);
  std::string token = content.ok() ? TrimWhitespace(*content) : std::string();
  if (token.empty()) {
    if (have_token_) return token_;  // keep the last good token; the server decides
    if (!content.ok()) return Status::Error("cannot read the API token: " + content.status().message());
    return Status::Error("the API token file '" + path_ + "' is empty");
  }
  token_ = std::move(token);
  have_token_ = true;
  stale_ = false;
  read_at_ = now;
  return token_;
}

void TokenSource::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  stale_ = true;
}

}  // namespace ha_sync::k8s
