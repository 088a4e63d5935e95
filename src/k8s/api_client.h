// Calls to the Kubernetes API with authentication and bounded retries.
//
// Each call has a deadline (steady clock). Within it:
//  - the bearer token comes from TokenSource (re-read every 60 s); on a 401
//    the token file is re-read and the request retried at once, one time;
//    later 401s are retried like an outage;
//  - 429 (any verb: API Priority and Fairness rejects before executing) and,
//    for reads, 5xx, timeouts and connection failures are retried with
//    exponential backoff and full jitter, waiting at least Retry-After;
//  - a write (POST/PUT) whose request was sent but got a 5xx, a timeout or a
//    broken connection is NOT retried: it may have been applied, so the
//    result says maybe_applied and the caller re-reads the object to decide
//    (the Kubernetes API conventions). Failures before sending are retried.
//  - DELETE is retried like a read: repeating an applied DELETE gives 404,
//    which the lease code treats as "already gone".
//  - an untrusted server certificate is final (permanent), not retried;
//  - a retry is not started when less than half a response timeout would be
//    left of the deadline after its wait.
// A stop flag (SIGTERM) ends the waiting between attempts.
//
// Thread-safety: calls may come from several threads; the token source is
// shared and internally locked, each call has its own connection.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <mutex>
#include <string>

#include "k8s/api_status.h"
#include "k8s/https_client.h"
#include "k8s/kube_config.h"
#include "k8s/token_source.h"

namespace ha_sync::k8s {

struct ApiResult {
  bool has_response = false;   // an HTTP answer classified in `status`
  ApiStatus status;            // when has_response
  std::string body;            // when has_response
  std::string error;           // no final answer: why (the last failure)
  bool maybe_applied = false;  // a write was sent and its outcome is unknown
  bool permanent = false;      // retrying cannot help (TLS trust, token unreadable)
  bool interrupted = false;    // the stop flag ended the retries
  int attempts = 0;

  bool Is(ApiErrorKind kind) const { return has_response && status.kind == kind; }
  bool ok() const { return Is(ApiErrorKind::kNone); }
  // One line for messages: the HTTP status, else the transport error.
  std::string Describe() const;
};

struct RetryPolicy {
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{4000};
};

class ApiClient {
 public:
  ApiClient(std::unique_ptr<HttpsClient> http, std::string token_file, RetryPolicy retry = {});

  using Deadline = std::chrono::steady_clock::time_point;
  // `stop` (may be null) interrupts retry waits; Release passes null so a
  // SIGTERM does not prevent releasing.
  ApiResult Get(const std::string& path, Deadline deadline, const std::atomic<bool>* stop);
  ApiResult Post(const std::string& path, const std::string& body, Deadline deadline,
                 const std::atomic<bool>* stop);
  ApiResult Put(const std::string& path, const std::string& body, Deadline deadline,
                const std::atomic<bool>* stop);
  ApiResult Delete(const std::string& path, const std::string& body, Deadline deadline,
                   const std::atomic<bool>* stop);

  const HttpsClient& http() const { return *http_; }
  TokenSource& tokens() { return tokens_; }

 private:
  ApiResult Call(const char* method, const std::string& path, const std::string& body, bool is_write,
                 Deadline deadline, const std::atomic<bool>* stop);
  std::chrono::milliseconds Backoff(int retry);

  std::unique_ptr<HttpsClient> http_;
  TokenSource tokens_;
  const RetryPolicy retry_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace ha_sync::k8s
